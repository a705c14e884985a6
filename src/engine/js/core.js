/*
 * The run's core globals, loaded on first use (each is a lazy global, src/engine/globals.c): console
 * (formatting through inspect.js for anything but plain strings and numbers), the timers,
 * queueMicrotask, atob/btoa, and the helpers the engine needs when something goes wrong:
 * describe(e) for the run's error, the Node-style stack formatter, unhandled rejections.
 */
(function (host, shared, load) {
    'use strict';
    const defineProperty = Object.defineProperty;
    const apply = Reflect.apply;
    const PromiseCtor = Promise;
    const promiseThen = Promise.prototype.then;
    const ErrorCtor = Error;
    const StringCtor = String;
    const MapCtor = Map;

    /* ---- stacks and error descriptions ---- */

    /* JSC frames ("fn@main.js:3:7") as Node's ("    at fn (main.js:3:7)"), engine frames
     * (ratchet:*) left out, and so is an outermost anonymous native frame: the function the
     * engine calls the task through (src/engine/globals.c, task_call). */
    function formatStack(header, raw) {
        let out = header;
        if (typeof raw !== 'string' || raw === '')
            return out;
        const lines = raw.split('\n');
        while (lines.length > 0 && lines[lines.length - 1] === '')
            lines.pop();
        if (lines.length > 0 && lines[lines.length - 1] === '@[native code]')
            lines.pop();
        for (const line of lines) {
            if (line === '')
                continue;
            const at = line.indexOf('@');
            let fn = at < 0 ? '' : line.slice(0, at);
            let loc = at < 0 ? line : line.slice(at + 1);
            if (loc === '' || loc.startsWith('ratchet:'))
                continue;
            if (loc === '[native code]')
                loc = 'native';
            if (fn === 'global code' || fn === 'module code' || fn === 'eval code')
                fn = '';
            out += fn ? '\n    at ' + fn + ' (' + loc + ')' : '\n    at ' + loc;
        }
        return out;
    }
    shared.formatStack = formatStack;

    function isErrorLike(e) {
        return e instanceof ErrorCtor ||
               (e !== null && typeof e === 'object' && typeof e.message === 'string' &&
                typeof e.stack === 'string');
    }
    shared.isErrorLike = isErrorLike;

    /* [type, message, stack, status] of a thrown value, for the run's error. */
    function describe(e) {
        try {
            if (isErrorLike(e)) {
                let name = e.name;
                name = typeof name === 'string' && name !== '' ? name : 'Error';
                const message = typeof e.message === 'string' ? e.message : StringCtor(e.message);
                const status = Number.isInteger(e.status) ? e.status : 0;
                const header = message === '' ? name : name + ': ' + message;
                return [name, message, formatStack(header, e.stack), status];
            }
            const msg = typeof e === 'string' ? e : load('inspect').inspect(e);
            return ['Error', msg, '', 0];
        } catch (x) {
            return ['Error', 'the task threw a value that cannot be described', '', 0];
        }
    }

    /* ---- console ---- */

    const DEBUG = 0, INFO = 1, WARN = 2, ERROR = 3;
    let logOpen = true;
    let groupIndent = '';

    function formatArgs(args) {
        const n = args.length;
        if (n === 1 && typeof args[0] === 'string')
            return args[0];
        let simple = true;
        for (let i = 0; i < n && simple; i++) {
            const v = args[i], t = typeof v;
            if (t === 'string')
                simple = i > 0 || !v.includes('%');
            else if (t === 'number')
                simple = !(v === 0 && 1 / v < 0);
            else
                simple = t === 'boolean';
        }
        if (simple) {
            let s = '';
            for (let i = 0; i < n; i++)
                s += (i ? ' ' : '') + args[i];
            return s;
        }
        return load('inspect').format(args);
    }
    shared.formatArgs = formatArgs;

    function emit(level, text) {
        if (!logOpen)
            return;
        if (groupIndent !== '')
            text = groupIndent + text.split('\n').join('\n' + groupIndent);
        if (!host.log(level, text))
            logOpen = false;
    }

    const counts = new MapCtor();
    const timeStarts = new MapCtor();
    const console = {
        log(...args) { emit(INFO, formatArgs(args)); },
        info(...args) { emit(INFO, formatArgs(args)); },
        debug(...args) { emit(DEBUG, formatArgs(args)); },
        warn(...args) { emit(WARN, formatArgs(args)); },
        error(...args) { emit(ERROR, formatArgs(args)); },
        trace(...args) {
            const stack = formatStack('Trace' + (args.length ? ': ' + formatArgs(args) : ''),
                                      new ErrorCtor().stack);
            emit(DEBUG, stack);
        },
        dir(value) { emit(INFO, load('inspect').inspect(value)); },
        dirxml(...args) { emit(INFO, formatArgs(args)); },
        table(data) { emit(INFO, formatArgs([data])); },
        assert(cond, ...args) {
            if (!cond)
                emit(ERROR, 'Assertion failed' + (args.length ? ': ' + formatArgs(args) : ''));
        },
        count(label = 'default') {
            label = StringCtor(label);
            const n = (counts.get(label) || 0) + 1;
            counts.set(label, n);
            emit(INFO, label + ': ' + n);
        },
        countReset(label = 'default') { counts.delete(StringCtor(label)); },
        time(label = 'default') { timeStarts.set(StringCtor(label), host.now()); },
        timeLog(label = 'default', ...args) {
            label = StringCtor(label);
            const t = timeStarts.get(label);
            if (t === undefined)
                return emit(WARN, "No such label '" + label + "' for console.timeLog()");
            const extra = args.length ? ' ' + formatArgs(args) : '';
            emit(INFO, label + ': ' + (host.now() - t).toFixed(3) + 'ms' + extra);
        },
        timeEnd(label = 'default') {
            label = StringCtor(label);
            const t = timeStarts.get(label);
            if (t === undefined)
                return emit(WARN, "No such label '" + label + "' for console.timeEnd()");
            timeStarts.delete(label);
            emit(INFO, label + ': ' + (host.now() - t).toFixed(3) + 'ms');
        },
        group(...args) {
            if (args.length)
                emit(INFO, formatArgs(args));
            groupIndent += '  ';
        },
        groupCollapsed(...args) { console.group(...args); },
        groupEnd() { groupIndent = groupIndent.slice(2); },
    };

    /* ---- timers and microtasks ---- */

    const timers = new MapCtor();
    let nextTimer = 1;
    function addTimer(fn, ms, args, repeat) {
        if (typeof fn !== 'function')
            throw new TypeError('The "callback" argument must be of type function');
        ms = +ms;
        ms = ms >= 1 && ms <= 2147483647 ? Math.floor(ms) : repeat ? 1 : 0;
        const id = nextTimer++;
        timers.set(id, {fn, args, repeat});
        host.timerStart(id, ms, repeat);
        return id;
    }
    shared.addTimer = addTimer;
    function clearTimer(id) {
        if (timers.delete(+id))
            host.timerClear(+id);
    }
    function setTimeout(fn, ms, ...args) { return addTimer(fn, ms, args, false); }
    function setInterval(fn, ms, ...args) { return addTimer(fn, ms, args, true); }
    function clearTimeout(id) { clearTimer(id); }
    function clearInterval(id) { clearTimer(id); }
    function queueMicrotask(fn) {
        if (typeof fn !== 'function')
            throw new TypeError('The "callback" argument must be of type function');
        apply(promiseThen, PromiseCtor.resolve(), [() => {
            try {
                fn();
            } catch (e) {
                host.uncaught(e);
            }
        }]);
    }

    /* ---- small globals ---- */

    function atob(data) {
        if (arguments.length < 1)
            throw new TypeError("atob requires 1 argument");
        const s = host.atob(StringCtor(data));
        if (s === null)
            throw new (load('errors').DOMException)('The string to be decoded is not correctly encoded.', 'InvalidCharacterError');
        return s;
    }
    function btoa(data) {
        if (arguments.length < 1)
            throw new TypeError("btoa requires 1 argument");
        const s = host.btoa(StringCtor(data));
        if (s === null)
            throw new (load('errors').DOMException)('The string to be encoded contains characters outside of the Latin1 range.', 'InvalidCharacterError');
        return s;
    }

    /* Errors the engine itself raises for a task's output or shape. */
    class TaskError extends ErrorCtor {}
    defineProperty(TaskError.prototype, 'name', {value: 'TaskError', writable: true, configurable: true});
    class OutputError extends ErrorCtor {}
    defineProperty(OutputError.prototype, 'name', {value: 'OutputError', writable: true, configurable: true});
    /* The engine words these about the task; only engine frames would be on their stack. */
    function engineError(Ctor, message) {
        const e = new Ctor(message);
        e.stack = '';
        return e;
    }

    return {
        console, setTimeout, setInterval, clearTimeout, clearInterval, queueMicrotask, atob, btoa,
        describe,
        outputError(v, e) {
            const t = typeof v;
            let msg;
            if (v === undefined)
                msg = 'task returned undefined; the output must be JSON';
            else if (t === 'function')
                msg = 'task returned a function; the output must be JSON';
            else if (t === 'symbol')
                msg = 'task returned a Symbol; the output must be JSON';
            else if (t === 'bigint')
                msg = 'task returned a BigInt; the output must be JSON (convert it to a number or string)';
            else if (e !== null)
                msg = 'task output is not JSON: ' + (e instanceof ErrorCtor ? e.message : StringCtor(e));
            else
                msg = 'task output is not JSON (it serialises to undefined)';
            return engineError(OutputError, msg);
        },
        /* The error of a main.js that defines no task (run.c looked for every shape). */
        noTaskError() {
            return engineError(TaskError, 'main.js defines no task function: declare function main(input, context), ' +
                                          'or make the script end with a function expression');
        },
        /* Runs timer id; returns true when it repeats. */
        fireTimer(id) {
            const t = timers.get(id);
            if (t === undefined)
                return false;
            if (!t.repeat)
                timers.delete(id);
            apply(t.fn, undefined, t.args);
            return t.repeat && timers.has(id);
        },
        onUnhandledRejection(promise, reason) {
            let text;
            try {
                text = isErrorLike(reason) ? describe(reason)[2] : load('inspect').inspect(reason);
            } catch (e) {
                text = '(unprintable)';
            }
            emit(WARN, 'Unhandled promise rejection: ' + text);
        },
    };
})

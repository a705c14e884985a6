/*
 * The per-run prelude (src/engine/prelude.c embeds it; run.c evaluates it in every fresh
 * context with `this` = the host object, whose native methods are bound to the run).
 *
 * It defines the task-visible globals of docs/engine.md. Everything heavy is a lazy global: a
 * getter that loads a module (errors.js, web.js, url.js, inspect.js) on first use, so a run pays
 * only for what it touches. It returns the internals the engine calls: start, fireTimer,
 * fetchDone, describe, onUnhandledRejection. Rules: ASCII only; declare no global bindings
 * (user code may declare any name); globals are writable and configurable, like WebIDL's.
 */
(function (host) {
    'use strict';
    const G = globalThis;
    const defineProperty = Object.defineProperty;
    const create = Object.create;
    const apply = Reflect.apply;
    const stringify = JSON.stringify;
    const PromiseCtor = Promise;
    const promiseThen = Promise.prototype.then;
    const ErrorCtor = Error;
    const StringCtor = String;
    const MapCtor = Map;

    function define(name, value) {
        defineProperty(G, name, {value, writable: true, configurable: true, enumerable: false});
    }

    /* Modules: each is an expression evaluating to function (host, shared, load) -> exports. */
    const modules = create(null);
    const shared = create(null);
    function load(name) {
        let m = modules[name];
        if (m === undefined) {
            m = host.load(name)(host, shared, load);
            modules[name] = m;
        }
        return m;
    }
    function lazy(mod, names) {
        for (const name of names) {
            defineProperty(G, name, {
                configurable: true,
                enumerable: false,
                get() {
                    const v = load(mod)[name];
                    define(name, v);
                    return v;
                },
                set(v) {
                    define(name, v);
                },
            });
        }
    }

    lazy('errors', ['AuthenticationError', 'AuthorizationError', 'NetworkError', 'HttpError',
                    'ValidationError', 'ConfigurationError', 'RateLimitError',
                    'ServiceUnavailableError', 'TimeoutError', 'DataError', 'DOMException']);
    lazy('web', ['Headers', 'Request', 'Response', 'AbortController', 'AbortSignal', 'Event',
                 'EventTarget', 'TextEncoder', 'TextDecoder', 'structuredClone', 'crypto',
                 'performance']);
    lazy('url', ['URL', 'URLSearchParams']);
    defineProperty(G, 'fetch', {
        configurable: true,
        enumerable: false,
        get() {
            const web = load('web');
            const f = host.fetchMode() === 'sync' ? web.fetchSync : web.fetch;
            define('fetch', f);
            return f;
        },
        set(v) {
            define('fetch', v);
        },
    });

    /* ---- stacks and error descriptions ---- */

    /* JSC frames ("fn@main.js:3:7") as Node's ("    at fn (main.js:3:7)"), engine frames
     * (ratchet:*) left out. */
    function formatStack(header, raw) {
        let out = header;
        if (typeof raw !== 'string' || raw === '')
            return out;
        for (const line of raw.split('\n')) {
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
    define('console', console);

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
    define('setTimeout', function setTimeout(fn, ms, ...args) { return addTimer(fn, ms, args, false); });
    define('setInterval', function setInterval(fn, ms, ...args) { return addTimer(fn, ms, args, true); });
    define('clearTimeout', function clearTimeout(id) { clearTimer(id); });
    define('clearInterval', function clearInterval(id) { clearTimer(id); });
    define('queueMicrotask', function queueMicrotask(fn) {
        if (typeof fn !== 'function')
            throw new TypeError('The "callback" argument must be of type function');
        apply(promiseThen, PromiseCtor.resolve(), [() => {
            try {
                fn();
            } catch (e) {
                host.uncaught(e);
            }
        }]);
    });

    /* ---- small globals ---- */

    define('atob', function atob(data) {
        if (arguments.length < 1)
            throw new TypeError("atob requires 1 argument");
        const s = host.atob(StringCtor(data));
        if (s === null)
            throw new (load('errors').DOMException)('The string to be decoded is not correctly encoded.', 'InvalidCharacterError');
        return s;
    });
    define('btoa', function btoa(data) {
        if (arguments.length < 1)
            throw new TypeError("btoa requires 1 argument");
        const s = host.btoa(StringCtor(data));
        if (s === null)
            throw new (load('errors').DOMException)('The string to be encoded contains characters outside of the Latin1 range.', 'InvalidCharacterError');
        return s;
    });
    const module = {exports: {}};
    define('module', module);
    define('exports', module.exports);

    /* ---- running the task ---- */

    class TaskError extends ErrorCtor {}
    defineProperty(TaskError.prototype, 'name', {value: 'TaskError', writable: true, configurable: true});
    class OutputError extends ErrorCtor {}
    defineProperty(OutputError.prototype, 'name', {value: 'OutputError', writable: true, configurable: true});

    function callable(v) {
        return typeof v === 'function';
    }

    /* The shapes of docs/engine.md, in the original's order. */
    function resolveTask(completion) {
        try {
            if (typeof main === 'function')
                return main;
        } catch (e) {
            /* main declared but never initialised: fall through */
        }
        if (callable(completion))
            return completion;
        const mod = G.module;
        const candidates = [mod !== null && typeof mod === 'object' ? mod.exports : undefined, completion];
        for (const c of candidates) {
            if (callable(c))
                return c;
            if (c !== null && typeof c === 'object') {
                if (callable(c.main))
                    return (input, context) => c.main(input, context);
                if (callable(c.default))
                    return (input, context) => c.default(input, context);
            }
        }
        if (completion !== undefined && completion !== null)
            return () => completion; /* the original's "the completion value is the output" */
        throw new TaskError('main.js defines no task function: declare function main(input, context), ' +
                            'or make the script end with a function expression');
    }

    function toOutput(v) {
        const t = typeof v;
        if (v === undefined)
            throw new OutputError('task returned undefined; the output must be JSON');
        if (t === 'function')
            throw new OutputError('task returned a function; the output must be JSON');
        if (t === 'symbol')
            throw new OutputError('task returned a Symbol; the output must be JSON');
        if (t === 'bigint')
            throw new OutputError('task returned a BigInt; the output must be JSON (convert it to a number or string)');
        let s;
        try {
            s = stringify(v);
        } catch (e) {
            const why = e instanceof ErrorCtor ? e.message : StringCtor(e);
            throw new OutputError('task output is not JSON: ' + why);
        }
        if (typeof s !== 'string')
            throw new OutputError('task output is not JSON (it serialises to undefined)');
        return s;
    }

    function settle(v) {
        let s;
        try {
            s = toOutput(v);
        } catch (e) {
            host.fail(e);
            return;
        }
        host.settle(s);
    }

    function isThenable(r) {
        return r !== null && (typeof r === 'object' || typeof r === 'function') &&
               typeof r.then === 'function';
    }

    return {
        /* Finds and calls the task; returns the output JSON, or undefined while it awaits. */
        start(completion, input, executionId, taskId, taskVersion, jobId) {
            const fn = resolveTask(completion);
            const r = fn(input, {executionId, taskId, taskVersion, jobId});
            if (isThenable(r)) {
                apply(promiseThen, PromiseCtor.resolve(r), [settle, (e) => host.fail(e)]);
                return undefined;
            }
            return toOutput(r);
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
        fetchDone(id, raw) {
            const web = modules.web;
            if (web !== undefined)
                web.fetchDone(id, raw);
        },
        describe,
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
})(this)

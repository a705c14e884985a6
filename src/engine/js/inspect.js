/*
 * Node-like formatting of console arguments (util.format and a compact util.inspect): strings
 * raw at the top level and quoted inside objects, objects as `{ a: 1 }`, errors with their
 * stack, Map/Set/typed arrays/dates, `[Circular *1]`, depth 2, long values split over lines.
 * Loaded on first use by core.js for any console call that is not plain strings and numbers.
 */
(function (host, shared, load) {
    'use strict';
    load('core'); /* shared.formatStack, shared.isErrorLike, shared.addTimer */
    const objToString = Object.prototype.toString;
    const CUSTOM = Symbol.for('nodejs.util.inspect.custom');
    const MAX_ARRAY = 100;
    const MAX_STRING = 10000;
    const BREAK = 72;

    function quote(s) {
        if (s.length > MAX_STRING)
            s = s.slice(0, MAX_STRING) + "'... " + (s.length - MAX_STRING) + " more characters";
        const q = s.includes("'") && !s.includes('"') ? '"' : "'";
        let out = q;
        for (const ch of s) {
            const c = ch.charCodeAt(0);
            if (ch === q || ch === '\\')
                out += '\\' + ch;
            else if (ch === '\n')
                out += '\\n';
            else if (ch === '\t')
                out += '\\t';
            else if (ch === '\r')
                out += '\\r';
            else if (c < 0x20 || c === 0x7f)
                out += '\\x' + c.toString(16).padStart(2, '0').toUpperCase();
            else
                out += ch;
        }
        return out + q;
    }

    function keyString(k) {
        if (typeof k === 'symbol')
            return '[' + k.toString() + ']';
        return /^[A-Za-z_$][A-Za-z0-9_$]*$/.test(k) ? k : quote(k);
    }

    function fnBase(f) {
        const src = Function.prototype.toString.call(f);
        const name = f.name;
        if (/^class[\s{]/.test(src))
            return '[class ' + (name || '(anonymous)') + ']';
        const kind = objToString.call(f).slice(8, -1);
        const label = kind === 'AsyncFunction' ? 'AsyncFunction' : kind === 'GeneratorFunction' ?
            'GeneratorFunction' : kind === 'AsyncGeneratorFunction' ? 'AsyncGeneratorFunction' : 'Function';
        return name ? '[' + label + ': ' + name + ']' : '[' + label + ' (anonymous)]';
    }

    function errorText(e) {
        let name = 'Error', message = '';
        try {
            name = typeof e.name === 'string' && e.name ? e.name : 'Error';
            message = typeof e.message === 'string' ? e.message : String(e.message);
        } catch (x) {
            /* keep the defaults */
        }
        const header = message === '' ? name : name + ': ' + message;
        return shared.formatStack(header, e.stack);
    }

    function primitive(v, top) {
        switch (typeof v) {
        case 'string':
            return top ? v : quote(v);
        case 'number':
            return v === 0 && 1 / v < 0 ? '-0' : String(v);
        case 'bigint':
            return String(v) + 'n';
        case 'symbol':
            return v.toString();
        case 'undefined':
            return 'undefined';
        case 'boolean':
            return String(v);
        default:
            return v === null ? 'null' : undefined;
        }
    }

    function inspect(value, opts = undefined) {
        const depthMax = opts && typeof opts.depth === 'number' ? opts.depth : 2;
        const seen = [];
        const circular = new Map();

        function wrap(prefix, parts, open, close, indent) {
            if (parts.length === 0)
                return prefix + open + close;
            const one = prefix + open + ' ' + parts.join(', ') + ' ' + close;
            if (one.length <= BREAK && !one.includes('\n'))
                return one;
            const pad = '  '.repeat(indent + 1);
            return prefix + open + '\n' + pad + parts.join(',\n' + pad) + '\n' + '  '.repeat(indent) + close;
        }

        function props(v, parts, depth, skipIndices) {
            for (const k of Object.keys(v)) {
                if (skipIndices && /^(0|[1-9][0-9]*)$/.test(k))
                    continue;
                let d;
                try {
                    d = Object.getOwnPropertyDescriptor(v, k);
                } catch (e) {
                    continue;
                }
                if (d === undefined)
                    continue;
                const val = 'value' in d ? fmt(d.value, depth + 1) : d.get && d.set ? '[Getter/Setter]' : d.get ? '[Getter]' : '[Setter]';
                parts.push(keyString(k) + ': ' + val);
            }
            for (const s of Object.getOwnPropertySymbols(v)) {
                const d = Object.getOwnPropertyDescriptor(v, s);
                if (d && d.enumerable)
                    parts.push(keyString(s) + ': ' + ('value' in d ? fmt(d.value, depth + 1) : '[Getter]'));
            }
        }

        function fmt(v, depth) {
            const p = primitive(v, false);
            if (p !== undefined)
                return p;
            if (seen.includes(v)) {
                let n = circular.get(v);
                if (n === undefined) {
                    n = circular.size + 1;
                    circular.set(v, n);
                }
                return '[Circular *' + n + ']';
            }
            const out = fmtObject(v, depth);
            const n = circular.get(v);
            return n === undefined ? out : '<ref *' + n + '> ' + out;
        }

        function fmtObject(v, depth) {
            if (typeof v[CUSTOM] === 'function' && v[CUSTOM] !== inspect) {
                const r = v[CUSTOM](depthMax - depth, {}, inspect);
                return typeof r === 'string' ? r : fmt(r, depth);
            }
            if (typeof v === 'function') {
                const base = fnBase(v);
                if (Object.keys(v).length === 0 || depth > depthMax)
                    return base;
                seen.push(v);
                const parts = [];
                props(v, parts, depth, false);
                seen.pop();
                return wrap(base + ' ', parts, '{', '}', depth);
            }
            const tag = objToString.call(v).slice(8, -1);
            if (shared.isErrorLike(v))
                return errorText(v);
            if (tag === 'Date')
                return Number.isNaN(v.getTime()) ? 'Invalid Date' : v.toISOString();
            if (tag === 'RegExp')
                return String(v);
            if (tag === 'Promise')
                return 'Promise { <unknown> }';
            if (tag === 'WeakMap' || tag === 'WeakSet')
                return tag + ' { <items unknown> }';
            if (tag === 'Boolean' || tag === 'Number' || tag === 'String' || tag === 'BigInt' || tag === 'Symbol')
                return '[' + tag + ': ' + primitive(v.valueOf(), false) + ']';
            const ctor = (() => {
                try {
                    const proto = Object.getPrototypeOf(v);
                    if (proto === null)
                        return null;
                    const c = proto.constructor;
                    return typeof c === 'function' && c.name ? c.name : '';
                } catch (e) {
                    return '';
                }
            })();
            const isArray = Array.isArray(v);
            if (depth > depthMax) {
                if (isArray)
                    return '[Array]';
                return '[' + (ctor || 'Object') + ']';
            }
            seen.push(v);
            const parts = [];
            let prefix = '', open = '{', close = '}';
            if (isArray) {
                open = '[';
                close = ']';
                if (ctor !== 'Array')
                    prefix = (ctor || '[Array: null prototype]') + '(' + v.length + ') ';
                let holes = 0;
                const n = Math.min(v.length, MAX_ARRAY);
                for (let i = 0; i < n; i++) {
                    if (!(i in v)) {
                        holes++;
                        continue;
                    }
                    if (holes) {
                        parts.push('<' + holes + ' empty item' + (holes > 1 ? 's' : '') + '>');
                        holes = 0;
                    }
                    parts.push(fmt(v[i], depth + 1));
                }
                if (holes)
                    parts.push('<' + holes + ' empty item' + (holes > 1 ? 's' : '') + '>');
                if (v.length > MAX_ARRAY)
                    parts.push('... ' + (v.length - MAX_ARRAY) + ' more item' + (v.length - MAX_ARRAY > 1 ? 's' : ''));
                props(v, parts, depth, true);
            } else if (ArrayBuffer.isView(v) && tag !== 'DataView') {
                open = '[';
                close = ']';
                prefix = tag + '(' + v.length + ') ';
                const n = Math.min(v.length, MAX_ARRAY);
                for (let i = 0; i < n; i++)
                    parts.push(primitive(v[i], false));
                if (v.length > MAX_ARRAY)
                    parts.push('... ' + (v.length - MAX_ARRAY) + ' more items');
            } else if (tag === 'ArrayBuffer') {
                prefix = 'ArrayBuffer ';
                const bytes = new Uint8Array(v, 0, Math.min(v.byteLength, 50));
                let hex = '';
                for (const b of bytes)
                    hex += (hex ? ' ' : '') + b.toString(16).padStart(2, '0');
                if (v.byteLength > 50)
                    hex += ' ... ' + (v.byteLength - 50) + ' more bytes';
                parts.push('[Uint8Contents]: <' + hex + '>', 'byteLength: ' + v.byteLength);
            } else if (tag === 'Map') {
                prefix = 'Map(' + v.size + ') ';
                for (const [k, x] of v)
                    parts.push(fmt(k, depth + 1) + ' => ' + fmt(x, depth + 1));
                props(v, parts, depth, false);
            } else if (tag === 'Set') {
                prefix = 'Set(' + v.size + ') ';
                for (const x of v)
                    parts.push(fmt(x, depth + 1));
                props(v, parts, depth, false);
            } else {
                if (ctor === null)
                    prefix = '[Object: null prototype] ';
                else if (ctor !== 'Object')
                    prefix = (ctor || tag) + ' ';
                props(v, parts, depth, false);
            }
            seen.pop();
            return wrap(prefix, parts, open, close, depth);
        }

        return fmt(value, 0);
    }

    function formatOne(v) {
        return typeof v === 'string' ? v : inspect(v);
    }

    /* util.format: %s %d %i %f %j %o %O %c %% in a leading string, the rest joined by spaces. */
    function format(args) {
        let out = '';
        let i = 0;
        if (typeof args[0] === 'string') {
            const f = args[0];
            i = 1;
            let last = 0;
            for (let j = 0; j < f.length - 1; j++) {
                if (f[j] !== '%')
                    continue;
                const c = f[j + 1];
                let rep;
                if (c === '%') {
                    rep = '%';
                } else if (i >= args.length) {
                    continue;
                } else {
                    const a = args[i];
                    switch (c) {
                    case 's':
                        rep = typeof a === 'string' ? a : typeof a === 'bigint' ? a + 'n' :
                              typeof a === 'object' && a !== null ? inspect(a, {depth: 1}) : primitive(a, true) ?? String(a);
                        break;
                    case 'd':
                        rep = typeof a === 'bigint' ? a + 'n' : typeof a === 'object' && a !== null ? 'NaN' : primitive(Number(a), true);
                        break;
                    case 'i':
                        rep = typeof a === 'bigint' ? a + 'n' : String(parseInt(a, 10));
                        break;
                    case 'f':
                        rep = String(parseFloat(a));
                        break;
                    case 'j':
                        try {
                            rep = JSON.stringify(a);
                        } catch (e) {
                            rep = '[Circular]';
                        }
                        break;
                    case 'o':
                    case 'O':
                        rep = inspect(a, {depth: c === 'o' ? 4 : 2});
                        break;
                    case 'c':
                        rep = '';
                        break;
                    default:
                        continue;
                    }
                    i++;
                }
                out += f.slice(last, j) + rep;
                last = j + 2;
                j++;
            }
            out += f.slice(last);
        }
        for (; i < args.length; i++)
            out += (out === '' && i === 0 ? '' : ' ') + formatOne(args[i]);
        return out;
    }

    return {inspect, format};
})

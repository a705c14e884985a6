/*
 * Web APIs loaded on first use (each a lazy global, src/engine/globals.c): Event, EventTarget,
 * AbortController/AbortSignal, TextEncoder, TextDecoder, structuredClone, crypto and
 * performance. Bytes and randomness are native (host.*, see src/engine/host.c). fetch, Headers,
 * Request and Response are in fetch.js.
 */
(function (host, shared, load) {
    'use strict';
    load('core'); /* shared.formatStack, shared.isErrorLike, shared.addTimer */
    const DOMException = load('errors').DOMException;
    const defineProperty = Object.defineProperty;
    const toStringTag = Symbol.toStringTag;

    function setTag(C, tag) {
        defineProperty(C.prototype, toStringTag, {value: tag, configurable: true});
    }

    /* ---- events ---- */

    let setEventTarget;
    class Event {
        #type;
        #cancelable;
        #defaultPrevented = false;
        #target = null;
        constructor(type, init = undefined) {
            if (arguments.length < 1)
                throw new TypeError("Event requires a type");
            this.#type = String(type);
            this.#cancelable = !!(init && init.cancelable);
            this.timeStamp = host.now();
        }
        get type() { return this.#type; }
        get target() { return this.#target; }
        get currentTarget() { return this.#target; }
        get cancelable() { return this.#cancelable; }
        get defaultPrevented() { return this.#defaultPrevented; }
        preventDefault() {
            if (this.#cancelable)
                this.#defaultPrevented = true;
        }
        stopPropagation() {}
        stopImmediatePropagation() {}
        static {
            setEventTarget = (ev, target) => { ev.#target = target; };
        }
    }
    setTag(Event, 'Event');

    class EventTarget {
        #listeners = new Map();
        addEventListener(type, callback, options = undefined) {
            if (callback === null || callback === undefined)
                return;
            type = String(type);
            const once = typeof options === 'object' && options !== null && !!options.once;
            let list = this.#listeners.get(type);
            if (list === undefined) {
                list = [];
                this.#listeners.set(type, list);
            }
            if (list.some((l) => l.callback === callback))
                return;
            list.push({callback, once});
            const signal = typeof options === 'object' && options !== null ? options.signal : undefined;
            if (signal instanceof AbortSignal)
                signal.addEventListener('abort', () => this.removeEventListener(type, callback), {once: true});
        }
        removeEventListener(type, callback) {
            const list = this.#listeners.get(String(type));
            if (list === undefined)
                return;
            const i = list.findIndex((l) => l.callback === callback);
            if (i >= 0)
                list.splice(i, 1);
        }
        dispatchEvent(event) {
            if (!(event instanceof Event))
                throw new TypeError('dispatchEvent requires an Event');
            setEventTarget(event, this);
            const list = this.#listeners.get(event.type);
            if (list !== undefined) {
                for (const l of list.slice()) {
                    if (l.once)
                        this.removeEventListener(event.type, l.callback);
                    try {
                        if (typeof l.callback === 'function')
                            l.callback.call(this, event);
                        else
                            l.callback.handleEvent(event);
                    } catch (e) {
                        host.uncaught(e);
                    }
                }
            }
            return !event.defaultPrevented;
        }
    }
    setTag(EventTarget, 'EventTarget');

    /* ---- aborting ---- */

    const KEY = Symbol('AbortSignal');
    let signalAbort;
    class AbortSignal extends EventTarget {
        #aborted = false;
        #reason = undefined;
        onabort = null;
        constructor(key) {
            if (key !== KEY)
                throw new TypeError('Illegal constructor');
            super();
        }
        get aborted() { return this.#aborted; }
        get reason() { return this.#reason; }
        throwIfAborted() {
            if (this.#aborted)
                throw this.#reason;
        }
        static abort(reason) {
            const s = new AbortSignal(KEY);
            signalAbort(s, reason);
            return s;
        }
        static timeout(ms) {
            const s = new AbortSignal(KEY);
            shared.addTimer(() => signalAbort(s, new DOMException('The operation was aborted due to timeout', 'TimeoutError')), ms, [], false);
            return s;
        }
        static any(signals) {
            const s = new AbortSignal(KEY);
            for (const x of signals) {
                if (x.aborted) {
                    signalAbort(s, x.reason);
                    return s;
                }
            }
            for (const x of signals)
                x.addEventListener('abort', () => signalAbort(s, x.reason), {once: true});
            return s;
        }
        static {
            shared.isAbortSignal = (v) => typeof v === 'object' && v !== null && #aborted in v;
            signalAbort = (s, reason) => {
                if (s.#aborted)
                    return;
                s.#aborted = true;
                s.#reason = reason === undefined ? new DOMException('This operation was aborted', 'AbortError') : reason;
                const ev = new Event('abort');
                if (typeof s.onabort === 'function') {
                    try {
                        s.onabort(ev);
                    } catch (e) {
                        host.uncaught(e);
                    }
                }
                s.dispatchEvent(ev);
            };
        }
    }
    setTag(AbortSignal, 'AbortSignal');

    class AbortController {
        #signal = new AbortSignal(KEY);
        get signal() { return this.#signal; }
        abort(reason) { signalAbort(this.#signal, reason); }
    }
    setTag(AbortController, 'AbortController');

    /* ---- text encoding ---- */

    class TextEncoder {
        get encoding() { return 'utf-8'; }
        encode(input = '') {
            return new Uint8Array(host.utf8Encode(String(input)));
        }
        encodeInto(source, destination) {
            if (!(destination instanceof Uint8Array))
                throw new TypeError('encodeInto: destination must be a Uint8Array');
            source = String(source);
            const n = destination.length;
            let read = 0, written = 0;
            for (let i = 0; i < source.length;) {
                let cp = source.charCodeAt(i), units = 1;
                if (cp >= 0xd800 && cp <= 0xdbff && i + 1 < source.length) {
                    const d = source.charCodeAt(i + 1);
                    if (d >= 0xdc00 && d <= 0xdfff) {
                        cp = 0x10000 + ((cp - 0xd800) << 10) + (d - 0xdc00);
                        units = 2;
                    }
                }
                if (cp >= 0xd800 && cp <= 0xdfff)
                    cp = 0xfffd;
                const len = cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;
                if (written + len > n)
                    break;
                if (len === 1) {
                    destination[written] = cp;
                } else if (len === 2) {
                    destination[written] = 0xc0 | (cp >> 6);
                    destination[written + 1] = 0x80 | (cp & 63);
                } else if (len === 3) {
                    destination[written] = 0xe0 | (cp >> 12);
                    destination[written + 1] = 0x80 | ((cp >> 6) & 63);
                    destination[written + 2] = 0x80 | (cp & 63);
                } else {
                    destination[written] = 0xf0 | (cp >> 18);
                    destination[written + 1] = 0x80 | ((cp >> 12) & 63);
                    destination[written + 2] = 0x80 | ((cp >> 6) & 63);
                    destination[written + 3] = 0x80 | (cp & 63);
                }
                written += len;
                read += units;
                i += units;
            }
            return {read, written};
        }
    }
    setTag(TextEncoder, 'TextEncoder');

    const UTF8_LABELS = ['utf-8', 'utf8', 'unicode-1-1-utf-8', 'unicode11utf8', 'unicode20utf8', 'x-unicode20utf8'];
    function toBytes(input) {
        if (input === undefined || input === null)
            return new Uint8Array(0);
        if (input instanceof ArrayBuffer)
            return new Uint8Array(input);
        if (ArrayBuffer.isView(input))
            return new Uint8Array(input.buffer, input.byteOffset, input.byteLength);
        throw new TypeError('decode: the input must be an ArrayBuffer or an ArrayBufferView');
    }
    /* Bytes at the end of b that start a UTF-8 sequence not yet complete. */
    function incompleteTail(b) {
        const n = b.length;
        for (let i = n - 1; i >= 0 && i >= n - 4; i--) {
            const c = b[i];
            if ((c & 0xc0) === 0x80)
                continue;
            const need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
            return n - i < need ? n - i : 0;
        }
        return 0;
    }
    class TextDecoder {
        #fatal;
        #ignoreBOM;
        #pending = null;
        #started = false;
        constructor(label = 'utf-8', options = undefined) {
            const l = String(label).trim().toLowerCase();
            if (!UTF8_LABELS.includes(l))
                throw new RangeError('The "' + label + '" encoding is not supported (only utf-8)');
            this.#fatal = !!(options && options.fatal);
            this.#ignoreBOM = !!(options && options.ignoreBOM);
        }
        get encoding() { return 'utf-8'; }
        get fatal() { return this.#fatal; }
        get ignoreBOM() { return this.#ignoreBOM; }
        decode(input = undefined, options = undefined) {
            let bytes = toBytes(input);
            const stream = !!(options && options.stream);
            if (this.#pending !== null) {
                const joined = new Uint8Array(this.#pending.length + bytes.length);
                joined.set(this.#pending);
                joined.set(bytes, this.#pending.length);
                bytes = joined;
                this.#pending = null;
            }
            if (stream) {
                const cut = incompleteTail(bytes);
                if (cut > 0) {
                    this.#pending = bytes.slice(bytes.length - cut);
                    bytes = bytes.subarray(0, bytes.length - cut);
                }
            }
            const s = host.utf8Decode(bytes, this.#fatal, !this.#ignoreBOM && !this.#started);
            if (s === null)
                throw new TypeError('The encoded data was not valid for encoding utf-8');
            this.#started = stream && (this.#started || bytes.length > 0);
            return s;
        }
    }
    setTag(TextDecoder, 'TextDecoder');

    /* ---- structuredClone ---- */

    const ERROR_TYPES = {Error, EvalError, RangeError, ReferenceError, SyntaxError, TypeError, URIError};
    const objToString = Object.prototype.toString;
    function structuredClone(value, options = undefined) {
        const memo = new Map();
        function fail(what) {
            return new DOMException(what + ' could not be cloned.', 'DataCloneError');
        }
        function clone(v) {
            const t = typeof v;
            if (t === 'symbol')
                throw fail(String(v));
            if (t === 'function')
                throw fail((v.name ? v.name : 'function') + '()');
            if (v === null || t !== 'object')
                return v;
            if (memo.has(v))
                return memo.get(v);
            let out;
            const tag = objToString.call(v);
            if (Array.isArray(v)) {
                out = new Array(v.length);
                memo.set(v, out);
                for (const k of Object.keys(v))
                    out[k] = clone(v[k]);
                return out;
            }
            switch (tag) {
            case '[object Date]':
                out = new Date(v.getTime());
                break;
            case '[object RegExp]':
                out = new RegExp(v.source, v.flags);
                break;
            case '[object ArrayBuffer]':
                out = v.slice(0);
                break;
            case '[object DataView]':
                out = new DataView(clone(v.buffer), v.byteOffset, v.byteLength);
                break;
            case '[object Map]':
                out = new Map();
                memo.set(v, out);
                for (const [k, x] of v)
                    out.set(clone(k), clone(x));
                return out;
            case '[object Set]':
                out = new Set();
                memo.set(v, out);
                for (const x of v)
                    out.add(clone(x));
                return out;
            case '[object Error]': {
                const C = ERROR_TYPES[v.name] || Error;
                out = new C(v.message);
                memo.set(v, out);
                if (typeof v.stack === 'string')
                    defineProperty(out, 'stack', {value: v.stack, writable: true, configurable: true});
                if ('cause' in v)
                    out.cause = clone(v.cause);
                return out;
            }
            case '[object Boolean]':
            case '[object Number]':
            case '[object String]':
            case '[object BigInt]':
                out = Object(v.valueOf());
                break;
            case '[object Promise]':
            case '[object WeakMap]':
            case '[object WeakSet]':
            case '[object WeakRef]':
                throw fail(tag.slice(8, -1) + ' object');
            default:
                if (ArrayBuffer.isView(v)) {
                    out = new v.constructor(clone(v.buffer), v.byteOffset, v.length);
                    break;
                }
                out = {};
                memo.set(v, out);
                for (const k of Object.keys(v))
                    out[k] = clone(v[k]);
                return out;
            }
            memo.set(v, out);
            return out;
        }
        if (arguments.length < 1)
            throw new TypeError('structuredClone requires 1 argument');
        return clone(value);
    }

    /* ---- crypto, performance ---- */

    const crypto = {
        getRandomValues(array) {
            if (!ArrayBuffer.isView(array) || array instanceof DataView || array instanceof Float32Array ||
                array instanceof Float64Array || (typeof Float16Array === 'function' && array instanceof Float16Array))
                throw new DOMException('getRandomValues: the argument must be an integer-type TypedArray', 'TypeMismatchError');
            if (array.byteLength > 65536)
                throw new DOMException("getRandomValues: the ArrayBufferView's byte length (" + array.byteLength +
                                       ') exceeds the 65536 bytes of entropy available', 'QuotaExceededError');
            host.randomFill(array);
            return array;
        },
        randomUUID() {
            return host.randomUUID();
        },
    };
    defineProperty(crypto, toStringTag, {value: 'Crypto', configurable: true});

    const performance = {
        timeOrigin: Date.now() - host.now(),
        now() {
            return host.now();
        },
        toJSON() {
            return {timeOrigin: this.timeOrigin};
        },
    };
    defineProperty(performance, toStringTag, {value: 'Performance', configurable: true});

    return {
        Event, EventTarget, AbortSignal, AbortController, TextEncoder, TextDecoder, structuredClone,
        crypto, performance,
    };
})

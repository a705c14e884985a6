/*
 * Web APIs loaded on first use (prelude.js makes them lazy globals): Event, EventTarget,
 * AbortController/AbortSignal, Headers, Request, Response, both forms of fetch, TextEncoder,
 * TextDecoder, structuredClone, crypto and performance. Bytes, randomness and the network are
 * native (host.*, see src/engine/host.c); the rest is plain JavaScript here.
 */
(function (host, shared, load) {
    'use strict';
    load('core'); /* shared.formatStack, shared.isErrorLike, shared.addTimer */
    const errors = load('errors');
    const DOMException = errors.DOMException;
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

    /* ---- headers ---- */

    const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
    function headerName(name) {
        name = String(name);
        if (!TOKEN.test(name))
            throw new TypeError('Invalid header name: "' + name + '"');
        return name.toLowerCase();
    }
    function headerValue(value) {
        value = String(value).replace(/^[\t\n\r ]+|[\t\n\r ]+$/g, '');
        if (/[\0\r\n]/.test(value))
            throw new TypeError('Invalid header value: ' + JSON.stringify(value));
        return value;
    }

    let headersFlat, headersFromFlat;
    class Headers {
        #list = [];
        constructor(init = undefined) {
            if (init === undefined || init === null)
                return;
            if (init instanceof Headers) {
                for (const p of init.#list)
                    this.#list.push([p[0], p[1]]);
            } else if (typeof init === 'object' && typeof init[Symbol.iterator] === 'function') {
                for (const pair of init) {
                    const p = Array.from(pair);
                    if (p.length !== 2)
                        throw new TypeError('Headers: each header pair must have a name and a value');
                    this.append(p[0], p[1]);
                }
            } else if (typeof init === 'object') {
                for (const k of Object.keys(init))
                    this.append(k, init[k]);
            } else {
                throw new TypeError('Headers: init must be an object, an array of pairs or Headers');
            }
        }
        append(name, value) {
            this.#list.push([headerName(name), headerValue(value)]);
        }
        delete(name) {
            name = headerName(name);
            this.#list = this.#list.filter((p) => p[0] !== name);
        }
        get(name) {
            name = headerName(name);
            let out = null;
            for (const p of this.#list) {
                if (p[0] === name)
                    out = out === null ? p[1] : out + ', ' + p[1];
            }
            return out;
        }
        getSetCookie() {
            return this.#list.filter((p) => p[0] === 'set-cookie').map((p) => p[1]);
        }
        has(name) {
            name = headerName(name);
            return this.#list.some((p) => p[0] === name);
        }
        set(name, value) {
            name = headerName(name);
            value = headerValue(value);
            const i = this.#list.findIndex((p) => p[0] === name);
            if (i < 0) {
                this.#list.push([name, value]);
                return;
            }
            this.#list[i] = [name, value];
            this.#list = this.#list.filter((p, j) => j <= i || p[0] !== name);
        }
        forEach(callback, thisArg = undefined) {
            for (const [n, v] of this.entries())
                callback.call(thisArg, v, n, this);
        }
        *entries() {
            const names = [...new Set(this.#list.map((p) => p[0]))].sort();
            for (const n of names) {
                if (n === 'set-cookie') {
                    for (const v of this.getSetCookie())
                        yield [n, v];
                } else {
                    yield [n, this.get(n)];
                }
            }
        }
        *keys() {
            for (const [n] of this.entries())
                yield n;
        }
        *values() {
            for (const [, v] of this.entries())
                yield v;
        }
        [Symbol.iterator]() {
            return this.entries();
        }
        [Symbol.for('nodejs.util.inspect.custom')]() {
            return Object.fromEntries(this.entries());
        }
        static {
            headersFlat = (h) => {
                const out = [];
                for (const p of h.#list)
                    out.push(p[0], p[1]);
                return out;
            };
            headersFromFlat = (flat) => {
                const h = new Headers();
                for (let i = 0; i + 1 < flat.length; i += 2)
                    h.#list.push([String(flat[i]).toLowerCase(), String(flat[i + 1])]);
                return h;
            };
        }
    }
    setTag(Headers, 'Headers');

    /* ---- bodies ---- */

    /* A body as {data: string | Uint8Array | null, type: default content type or null}. */
    function extractBody(body) {
        if (body === undefined || body === null)
            return {data: null, type: null};
        if (typeof body === 'string')
            return {data: body, type: 'text/plain;charset=UTF-8'};
        if (shared.isURLSearchParams !== undefined && shared.isURLSearchParams(body))
            return {data: body.toString(), type: 'application/x-www-form-urlencoded;charset=UTF-8'};
        if (body instanceof ArrayBuffer)
            return {data: new Uint8Array(body.slice(0)), type: null};
        if (ArrayBuffer.isView(body))
            return {data: new Uint8Array(body.buffer.slice(body.byteOffset, body.byteOffset + body.byteLength)), type: null};
        if (typeof body === 'object')
            return {data: JSON.stringify(body), type: 'application/json'};
        return {data: String(body), type: 'text/plain;charset=UTF-8'};
    }

    function bodyText(data) {
        if (data === null)
            return '';
        if (typeof data === 'string')
            return data;
        return host.utf8Decode(data, false, true);
    }
    function bodyBytes(data) {
        if (data === null)
            return new Uint8Array(0);
        if (typeof data === 'string')
            return new Uint8Array(host.utf8Encode(data));
        return data.slice();
    }

    /* The body-reading methods shared by Request and Response; st = {data, used}. */
    function consume(st, how) {
        if (st.used)
            return Promise.reject(new TypeError('Body is unusable: Body has already been read'));
        st.used = true;
        try {
            switch (how) {
            case 'text':
                return Promise.resolve(bodyText(st.data));
            case 'json':
                return Promise.resolve(JSON.parse(bodyText(st.data)));
            case 'arrayBuffer':
                return Promise.resolve(bodyBytes(st.data).buffer);
            case 'bytes':
                return Promise.resolve(bodyBytes(st.data));
            default:
                return Promise.reject(new TypeError('Response.' + how + '() is not supported by Ratchet; use arrayBuffer() or text()'));
            }
        } catch (e) {
            return Promise.reject(e);
        }
    }

    /* ---- Request ---- */

    function parseURL(input) {
        const URL = load('url').URL;
        try {
            return new URL(String(input)).href;
        } catch (e) {
            throw new TypeError('Invalid URL: ' + String(input));
        }
    }
    function normMethod(m) {
        m = String(m);
        if (!TOKEN.test(m))
            throw new TypeError('Invalid method: "' + m + '"');
        return m.toUpperCase();
    }

    let requestBody;
    class Request {
        #url;
        #method;
        #headers;
        #body;
        #signal;
        #redirect;
        constructor(input, init = undefined) {
            init = init === undefined || init === null ? {} : init;
            const base = input instanceof Request ? input : null;
            this.#url = base !== null ? base.#url : parseURL(input);
            this.#method = normMethod(init.method !== undefined ? init.method : base !== null ? base.#method : 'GET');
            this.#headers = new Headers(init.headers !== undefined ? init.headers : base !== null ? base.#headers : undefined);
            let body;
            if (init.body !== undefined && init.body !== null) {
                const ex = extractBody(init.body);
                body = {data: ex.data, used: false};
                if (ex.type !== null && !this.#headers.has('content-type'))
                    this.#headers.set('content-type', ex.type);
            } else {
                body = {data: base !== null ? base.#body.data : null, used: false};
            }
            if (body.data !== null && (this.#method === 'GET' || this.#method === 'HEAD'))
                throw new TypeError('Request with GET/HEAD method cannot have body.');
            this.#body = body;
            const signal = init.signal !== undefined ? init.signal : base !== null ? base.#signal : null;
            if (signal !== null && signal !== undefined && !(signal instanceof AbortSignal))
                throw new TypeError("Failed to construct 'Request': member signal is not of type AbortSignal.");
            this.#signal = signal === undefined ? null : signal;
            const redirect = init.redirect !== undefined ? String(init.redirect) : base !== null ? base.#redirect : 'follow';
            if (redirect !== 'follow' && redirect !== 'error' && redirect !== 'manual')
                throw new TypeError('Invalid redirect mode: ' + redirect);
            this.#redirect = redirect;
        }
        get url() { return this.#url; }
        get method() { return this.#method; }
        get headers() { return this.#headers; }
        get signal() { return this.#signal; }
        get redirect() { return this.#redirect; }
        get body() { return null; }
        get bodyUsed() { return this.#body.used; }
        clone() {
            if (this.#body.used)
                throw new TypeError('Request.clone: Body has already been consumed.');
            return new Request(this);
        }
        text() { return consume(this.#body, 'text'); }
        json() { return consume(this.#body, 'json'); }
        arrayBuffer() { return consume(this.#body, 'arrayBuffer'); }
        bytes() { return consume(this.#body, 'bytes'); }
        blob() { return consume(this.#body, 'blob'); }
        formData() { return consume(this.#body, 'formData'); }
        static {
            requestBody = (r) => r.#body.data;
        }
    }
    setTag(Request, 'Request');

    /* ---- Response ---- */

    let makeResponse;
    class Response {
        #status = 200;
        #statusText = '';
        #headers;
        #body;
        #url = '';
        #redirected = false;
        #type = 'default';
        constructor(body = null, init = undefined) {
            init = init === undefined || init === null ? {} : init;
            const status = init.status === undefined ? 200 : Number(init.status);
            if (!Number.isInteger(status) || status < 200 || status > 599)
                throw new RangeError('Response status must be in the range 200 to 599, got ' + init.status);
            this.#status = status;
            this.#statusText = init.statusText === undefined ? '' : String(init.statusText);
            this.#headers = new Headers(init.headers);
            const ex = extractBody(body);
            if (ex.data !== null && (status === 204 || status === 205 || status === 304))
                throw new TypeError('Response with null body status cannot have body');
            if (ex.type !== null && !this.#headers.has('content-type'))
                this.#headers.set('content-type', ex.type);
            this.#body = {data: ex.data, used: false};
        }
        get status() { return this.#status; }
        get statusText() { return this.#statusText; }
        get ok() { return this.#status >= 200 && this.#status <= 299; }
        get headers() { return this.#headers; }
        get url() { return this.#url; }
        get redirected() { return this.#redirected; }
        get type() { return this.#type; }
        get body() { return null; }
        get bodyUsed() { return this.#body.used; }
        clone() {
            if (this.#body.used)
                throw new TypeError('Response.clone: Body has already been consumed.');
            const r = new Response(null, {status: 200});
            r.#status = this.#status;
            r.#statusText = this.#statusText;
            r.#headers = new Headers(this.#headers);
            r.#body = {data: this.#body.data, used: false};
            r.#url = this.#url;
            r.#redirected = this.#redirected;
            r.#type = this.#type;
            return r;
        }
        text() { return consume(this.#body, 'text'); }
        json() { return consume(this.#body, 'json'); }
        arrayBuffer() { return consume(this.#body, 'arrayBuffer'); }
        bytes() { return consume(this.#body, 'bytes'); }
        blob() { return consume(this.#body, 'blob'); }
        formData() { return consume(this.#body, 'formData'); }
        static json(data, init = undefined) {
            const text = JSON.stringify(data);
            if (text === undefined)
                throw new TypeError('Response.json: the data is not JSON-serialisable');
            const r = new Response(text, init);
            r.#headers.set('content-type', 'application/json');
            return r;
        }
        static error() {
            const r = new Response(null, {status: 200});
            r.#status = 0;
            r.#type = 'error';
            return r;
        }
        static redirect(url, status = 302) {
            if (![301, 302, 303, 307, 308].includes(status))
                throw new RangeError('Invalid redirect status: ' + status);
            return new Response(null, {status, headers: {location: parseURL(url)}});
        }
        static {
            makeResponse = (raw) => {
                const r = new Response(null, {status: 200});
                r.#status = raw.status;
                r.#statusText = raw.statusText;
                r.#headers = headersFromFlat(raw.headers);
                r.#body = {data: new Uint8Array(raw.body), used: false};
                r.#url = raw.url;
                r.#redirected = raw.redirected;
                r.#type = 'basic';
                return r;
            };
        }
    }
    setTag(Response, 'Response');

    /* ---- fetch ---- */

    /* The error a failed exchange rejects or throws with; e was made at the call site so its
     * stack shows the task's frames. */
    function fetchError(raw, e) {
        if (e === undefined || e.name !== raw.error) {
            const C = raw.error === 'TimeoutError' ? errors.TimeoutError :
                      raw.error === 'TypeError' ? TypeError : errors.NetworkError;
            e = new C(raw.message);
        }
        e.message = raw.message;
        return e;
    }

    function bodyForHost(data) {
        return data === null ? null : data;
    }

    /* WHATWG fetch: one request, a Promise of a Response. */
    const pending = new Map();
    let nextFetch = 1;
    function fetch(input, init = undefined) {
        return new Promise((resolve, reject) => {
            const req = new Request(input, init);
            const signal = req.signal;
            if (signal !== null && signal.aborted) {
                reject(signal.reason);
                return;
            }
            const id = nextFetch++;
            const entry = {resolve, reject, signal, onAbort: null, error: new errors.NetworkError('')};
            pending.set(id, entry);
            const raw = host.fetchStart(id, req.method, req.url, headersFlat(req.headers),
                                        bodyForHost(requestBody(req)), req.redirect);
            if (raw !== undefined) {
                pending.delete(id);
                settleFetch(entry, raw);
                return;
            }
            if (signal !== null) {
                entry.onAbort = () => {
                    if (pending.delete(id)) {
                        host.fetchAbort(id);
                        reject(signal.reason);
                    }
                };
                signal.addEventListener('abort', entry.onAbort, {once: true});
            }
        });
    }
    function settleFetch(entry, raw) {
        if (raw.error !== undefined)
            entry.reject(fetchError(raw, raw.error === 'NetworkError' ? entry.error : undefined));
        else
            entry.resolve(makeResponse(raw));
    }
    function fetchDone(id, raw) {
        const entry = pending.get(id);
        if (entry === undefined)
            return;
        pending.delete(id);
        if (entry.signal !== null && entry.onAbort !== null)
            entry.signal.removeEventListener('abort', entry.onAbort);
        settleFetch(entry, raw);
    }

    /* The original's synchronous fetch(url, {method, headers}, body). */
    function httpError(status, statusText, response) {
        const msg = 'HTTP ' + status + ': ' + statusText;
        let e;
        if (status === 401)
            e = new errors.AuthenticationError(msg);
        else if (status === 403)
            e = new errors.AuthorizationError(msg);
        else if (status === 429)
            e = new errors.RateLimitError(msg);
        else if (status >= 500)
            e = new errors.ServiceUnavailableError(msg);
        else if (status >= 400)
            e = new errors.HttpError(status, msg);
        else
            e = new errors.NetworkError(msg);
        e.status = status;
        defineProperty(e, 'response', {value: response, writable: true, configurable: true});
        return e;
    }
    function fetchSync(url, params = undefined, body = undefined) {
        if (shared.isURL !== undefined && shared.isURL(url))
            url = url.href;
        if (typeof url !== 'string')
            throw new Error('URL must be a string');
        params = params === undefined || params === null ? {} : params;
        if (typeof params !== 'object')
            throw new TypeError('fetch: the second argument must be an object {method, headers}');
        const method = normMethod(params.method === undefined ? 'GET' : params.method);
        const headers = new Headers(params.headers);
        if (body === undefined)
            body = params.body;
        const ex = extractBody(body);
        if (ex.type !== null && !headers.has('content-type'))
            headers.set('content-type', ex.type);
        const raw = host.fetchSync(method, parseURL(url), headersFlat(headers), bodyForHost(ex.data), 'follow');
        if (raw.error !== undefined)
            throw fetchError(raw, undefined);
        const text = raw.body.byteLength ? host.utf8Decode(raw.body, false, true) : '';
        let parsed = text;
        if (text !== '') {
            try {
                parsed = JSON.parse(text);
            } catch (e) {
                parsed = text;
            }
        }
        const hdrs = {};
        for (let i = 0; i + 1 < raw.headers.length; i += 2) {
            const n = String(raw.headers[i]).toLowerCase();
            hdrs[n] = hdrs[n] === undefined ? raw.headers[i + 1] : hdrs[n] + ', ' + raw.headers[i + 1];
        }
        const ok = raw.status >= 200 && raw.status <= 299;
        const result = {ok, status: raw.status, statusText: raw.statusText, headers: hdrs, body: parsed};
        defineProperty(result, 'json', {value: () => (typeof parsed === 'string' ? JSON.parse(parsed) : parsed), configurable: true, writable: true});
        defineProperty(result, 'text', {value: () => text, configurable: true, writable: true});
        if (!ok)
            throw httpError(raw.status, raw.statusText, result);
        return result;
    }

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
        Event, EventTarget, AbortSignal, AbortController, Headers, Request, Response,
        TextEncoder, TextDecoder, structuredClone, crypto, performance,
        fetch, fetchSync, fetchDone,
    };
})

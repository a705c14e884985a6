/*
 * fetch, both forms, and Headers, Request, Response (loaded on first use; src/engine/globals.c
 * picks the form per run). The exchange itself is native: host.fetchSync blocks, host.fetchStart answers
 * later through fetchDone (src/engine/fetch.c). Bodies are buffered; there are no streams.
 */
(function (host, shared, load) {
    'use strict';
    const errors = load('errors');
    const defineProperty = Object.defineProperty;
    const toStringTag = Symbol.toStringTag;

    function setTag(C, tag) {
        defineProperty(C.prototype, toStringTag, {value: tag, configurable: true});
    }

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

    /* The URL as fetch sends it (native: scheme and host lower-cased, default port dropped,
     * unsafe characters percent-encoded, fragment removed). */
    function parseURL(input) {
        const s = String(input);
        const url = host.urlNormalize(s);
        if (url === null)
            throw new TypeError('Invalid URL: ' + s);
        return url;
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
            if (signal !== null && signal !== undefined && !(shared.isAbortSignal !== undefined && shared.isAbortSignal(signal)))
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

    return {Headers, Request, Response, fetch, fetchSync, fetchDone};
})

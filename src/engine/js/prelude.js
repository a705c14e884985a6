/*
 * The per-run prelude (src/engine/prelude.c embeds it; each fresh context evaluates it with
 * `this` = the host object, whose native methods are bound to the run).
 *
 * It must be cheap: it only defines the globals of docs/engine.md as lazy getters, each loading
 * its module (core.js, errors.js, web.js, url.js; inspect.js behind console) on first use, and
 * returns the internals the engine calls: start, fireTimer, fetchDone, describe,
 * onUnhandledRejection. Rules: ASCII only; declare no global bindings (user code may declare any
 * name); globals are writable and configurable, like WebIDL's.
 */
(function (host) {
    'use strict';
    const G = globalThis;
    const defineProperty = Object.defineProperty;
    const stringify = JSON.stringify;
    const promiseThen = Promise.prototype.then;
    const promiseResolve = (v) => Promise.resolve(v);

    const modules = {__proto__: null};
    const shared = {__proto__: null};
    function load(name) {
        let m = modules[name];
        if (m === undefined) {
            m = host.load(name)(host, shared, load);
            modules[name] = m;
        }
        return m;
    }
    function define(name, value) {
        defineProperty(G, name, {value, writable: true, configurable: true, enumerable: false});
    }
    /* name -> module; each becomes a lazy global. A table walked inline: every function this
     * prelude runs costs a code-block link per context, so the hot path uses few of them. */
    const LAZY = [
        'console', 'core', 'setTimeout', 'core', 'setInterval', 'core', 'clearTimeout', 'core',
        'clearInterval', 'core', 'queueMicrotask', 'core', 'atob', 'core', 'btoa', 'core',
        'AuthenticationError', 'errors', 'AuthorizationError', 'errors', 'NetworkError', 'errors',
        'HttpError', 'errors', 'ValidationError', 'errors', 'ConfigurationError', 'errors',
        'RateLimitError', 'errors', 'ServiceUnavailableError', 'errors', 'TimeoutError', 'errors',
        'DataError', 'errors', 'DOMException', 'errors', 'Headers', 'fetch', 'Request', 'fetch',
        'Response', 'fetch', 'AbortController', 'web', 'AbortSignal', 'web', 'Event', 'web',
        'EventTarget', 'web', 'TextEncoder', 'web', 'TextDecoder', 'web', 'structuredClone', 'web',
        'crypto', 'web', 'performance', 'web', 'URL', 'url', 'URLSearchParams', 'url',
        'fetch', '',
    ];
    for (let i = 0; i < LAZY.length; i += 2) {
        const name = LAZY[i], mod = LAZY[i + 1];
        defineProperty(G, name, {
            configurable: true,
            get() {
                const v = mod === '' ? load('fetch')[host.fetchMode() === 'sync' ? 'fetchSync' : 'fetch']
                                     : load(mod)[name];
                define(name, v);
                return v;
            },
            set(v) {
                define(name, v);
            },
        });
    }
    const module = {exports: {}};
    G.module = module;
    G.exports = module.exports;

    /* The output JSON of a task's return value, or undefined when core.js must word an error. */
    function settle(v) {
        let s;
        const t = typeof v;
        try {
            if (t !== 'undefined' && t !== 'function' && t !== 'symbol' && t !== 'bigint')
                s = stringify(v);
            if (typeof s !== 'string')
                throw load('core').outputError(v, null);
        } catch (e) {
            host.fail(e.name === 'OutputError' ? e : load('core').outputError(v, e));
            return;
        }
        host.settle(s);
    }

    return {
        /* Finds the task (docs/engine.md, "shapes", in the original's order) and calls it;
         * returns the output JSON, or undefined while it awaits. */
        start(completion, input, executionId, taskId, taskVersion, jobId) {
            let fn;
            try {
                if (typeof main === 'function')
                    fn = main;
            } catch (e) {
                /* main declared but never initialised: fall through */
            }
            if (fn === undefined)
                fn = typeof completion === 'function' ? completion : load('core').resolveOther(completion, G.module);
            const r = fn(input, {executionId, taskId, taskVersion, jobId});
            const t = typeof r;
            if (r !== null && (t === 'object' || t === 'function') && typeof r.then === 'function') {
                promiseThen.call(promiseResolve(r), settle, (e) => host.fail(e));
                return undefined;
            }
            let s;
            if (t !== 'undefined' && t !== 'function' && t !== 'symbol' && t !== 'bigint') {
                try {
                    s = stringify(r);
                } catch (e) {
                    throw load('core').outputError(r, e);
                }
            }
            if (typeof s !== 'string')
                throw load('core').outputError(r, null);
            return s;
        },
        fireTimer(id) {
            return load('core').fireTimer(id);
        },
        fetchDone(id, raw) {
            const f = modules.fetch;
            if (f !== undefined)
                f.fetchDone(id, raw);
        },
        describe(e) {
            return load('core').describe(e);
        },
        onUnhandledRejection(promise, reason) {
            load('core').onUnhandledRejection(promise, reason);
        },
    };
})(this)

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
    const promiseResolve = Promise.resolve.bind(Promise);

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
    function lazy(mod, names) {
        for (const name of names) {
            defineProperty(G, name, {
                configurable: true,
                get() {
                    const v = mod === 'fetch' ? load('web')[host.fetchMode() === 'sync' ? 'fetchSync' : 'fetch']
                                              : load(mod)[name];
                    define(name, v);
                    return v;
                },
                set(v) {
                    define(name, v);
                },
            });
        }
    }
    lazy('core', ['console', 'setTimeout', 'setInterval', 'clearTimeout', 'clearInterval',
                  'queueMicrotask', 'atob', 'btoa']);
    lazy('errors', ['AuthenticationError', 'AuthorizationError', 'NetworkError', 'HttpError',
                    'ValidationError', 'ConfigurationError', 'RateLimitError',
                    'ServiceUnavailableError', 'TimeoutError', 'DataError', 'DOMException']);
    lazy('web', ['Headers', 'Request', 'Response', 'AbortController', 'AbortSignal', 'Event',
                 'EventTarget', 'TextEncoder', 'TextDecoder', 'structuredClone', 'crypto',
                 'performance']);
    lazy('url', ['URL', 'URLSearchParams']);
    lazy('fetch', ['fetch']);
    const module = {exports: {}};
    G.module = module;
    G.exports = module.exports;

    /* The output JSON of a task's return value (core.js words the errors). */
    function output(v) {
        let s;
        const t = typeof v;
        if (t !== 'undefined' && t !== 'function' && t !== 'symbol' && t !== 'bigint') {
            try {
                s = stringify(v);
            } catch (e) {
                throw load('core').outputError(v, e);
            }
        }
        if (typeof s !== 'string')
            throw load('core').outputError(v, null);
        return s;
    }

    function settle(v) {
        let s;
        try {
            s = output(v);
        } catch (e) {
            host.fail(e);
            return;
        }
        host.settle(s);
    }

    /* The shapes of docs/engine.md, in the original's order. */
    function resolveTask(completion) {
        try {
            if (typeof main === 'function')
                return main;
        } catch (e) {
            /* main declared but never initialised: fall through */
        }
        if (typeof completion === 'function')
            return completion;
        return load('core').resolveOther(completion, G.module);
    }

    return {
        /* Finds and calls the task; returns the output JSON, or undefined while it awaits. */
        start(completion, input, executionId, taskId, taskVersion, jobId) {
            const fn = resolveTask(completion);
            const r = fn(input, {executionId, taskId, taskVersion, jobId});
            if (r !== null && (typeof r === 'object' || typeof r === 'function') &&
                typeof r.then === 'function') {
                promiseThen.call(promiseResolve(r), settle, (e) => host.fail(e));
                return undefined;
            }
            return output(r);
        },
        fireTimer(id) {
            return load('core').fireTimer(id);
        },
        fetchDone(id, raw) {
            const web = modules.web;
            if (web !== undefined)
                web.fetchDone(id, raw);
        },
        describe(e) {
            return load('core').describe(e);
        },
        onUnhandledRejection(promise, reason) {
            load('core').onUnhandledRejection(promise, reason);
        },
    };
})(this)

/*
 * The error classes of the original Ratchet, as lazy globals (src/engine/globals.c loads this
 * module on first use): real subclasses of Error with name, message and stack. HttpError carries status;
 * NetworkError extends TypeError so WHATWG-style `instanceof TypeError` checks keep working.
 * Also DOMException, which JavaScriptCore alone lacks (AbortError, TimeoutError, ...).
 */
(function (host, shared, load) {
    'use strict';
    const defineProperty = Object.defineProperty;

    function named(C, name) {
        defineProperty(C, 'name', {value: name, configurable: true});
        defineProperty(C.prototype, 'name', {value: name, writable: true, configurable: true});
        return C;
    }

    /* A class whose constructor takes (message, options) like Error's. */
    function simple(name, Base) {
        return named(class extends Base {
            constructor(message, options) {
                super(message, options);
            }
        }, name);
    }

    /* Takes the status from the first run of digits, as the original did with "HTTP 404: ...". */
    function statusOf(message) {
        const m = /\d+/.exec(String(message));
        return m ? Number(m[0]) : 0;
    }

    const makeHttpError = () => named(class extends Error {
        constructor(status, message, options) {
            if (typeof status === 'string' && message === undefined && !/^\d+$/.test(status)) {
                message = status;
                status = statusOf(status);
            }
            status = Number(status) || 0;
            super(message === undefined ? 'HTTP ' + status : message, options);
            this.status = status;
        }
    }, 'HttpError');

    const CODES = {
        IndexSizeError: 1, HierarchyRequestError: 3, WrongDocumentError: 4,
        InvalidCharacterError: 5, NoModificationAllowedError: 7, NotFoundError: 8,
        NotSupportedError: 9, InvalidStateError: 11, SyntaxError: 12, InvalidModificationError: 13,
        NamespaceError: 14, InvalidAccessError: 15, TypeMismatchError: 17, SecurityError: 18,
        NetworkError: 19, AbortError: 20, URLMismatchError: 21, QuotaExceededError: 22,
        TimeoutError: 23, InvalidNodeTypeError: 24, DataCloneError: 25,
    };
    function makeDOMException() {
        class DOMException extends Error {
            constructor(message = '', name = 'Error') {
                super(String(message));
                defineProperty(this, 'name', {value: String(name), writable: true, configurable: true});
            }
            get code() {
                return CODES[this.name] || 0;
            }
        }
        return named(DOMException, 'DOMException');
    }

    /* Each class is made on first use: a run that throws one HttpError builds one class. */
    const makers = {
        AuthenticationError: () => simple('AuthenticationError', Error),
        AuthorizationError: () => simple('AuthorizationError', Error),
        NetworkError: () => simple('NetworkError', TypeError),
        HttpError: makeHttpError,
        ValidationError: () => simple('ValidationError', Error),
        ConfigurationError: () => simple('ConfigurationError', Error),
        RateLimitError: () => simple('RateLimitError', Error),
        ServiceUnavailableError: () => simple('ServiceUnavailableError', Error),
        TimeoutError: () => simple('TimeoutError', Error),
        DataError: () => simple('DataError', Error),
        DOMException: makeDOMException,
    };
    const exports = {};
    for (const name of Object.keys(makers)) {
        defineProperty(exports, name, {
            configurable: true,
            enumerable: true,
            get() {
                const C = makers[name]();
                defineProperty(exports, name, {value: C, enumerable: true});
                return C;
            },
        });
    }
    return exports;
})

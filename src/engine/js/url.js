/*
 * URL and URLSearchParams after the WHATWG URL Standard's basic URL parser (states, percent-encode
 * sets, IPv4/IPv6 hosts, punycode for non-ASCII domains, setters by state override). Loaded on
 * first use (lazy globals, src/engine/globals.c). Known gap: domains are lower-cased and
 * NFC-normalised, not fully UTS #46-mapped.
 */
(function (host, shared, load) {
    'use strict';
    const FAILURE = Symbol('failure');
    const SPECIAL = {ftp: 21, file: null, http: 80, https: 443, ws: 80, wss: 443};
    const isSpecialScheme = (s) => Object.prototype.hasOwnProperty.call(SPECIAL, s);

    /* ---- percent-encoding ---- */

    const C0 = (c) => c < 0x20 || c > 0x7e;
    const FRAGMENT_SET = (c) => C0(c) || c === 0x20 || c === 0x22 || c === 0x3c || c === 0x3e || c === 0x60;
    const QUERY_SET = (c) => C0(c) || c === 0x20 || c === 0x22 || c === 0x23 || c === 0x3c || c === 0x3e;
    const SPECIAL_QUERY_SET = (c) => QUERY_SET(c) || c === 0x27;
    const PATH_SET = (c) => QUERY_SET(c) || c === 0x3f || c === 0x60 || c === 0x7b || c === 0x7d;
    const USERINFO_SET = (c) => PATH_SET(c) || c === 0x2f || c === 0x3a || c === 0x3b || c === 0x3d ||
                                c === 0x40 || (c >= 0x5b && c <= 0x5e) || c === 0x7c;
    const HEX = '0123456789ABCDEF';

    function utf8Bytes(s) {
        return new Uint8Array(host.utf8Encode(s));
    }
    /* Percent-encodes one code point (a string of one or two UTF-16 units) when set says so. */
    function encodeCp(ch, set) {
        const cp = ch.codePointAt(0);
        if (cp < 0x80 && !set(cp))
            return ch;
        let out = '';
        for (const b of utf8Bytes(ch))
            out += '%' + HEX[b >> 4] + HEX[b & 15];
        return out;
    }
    function encodeString(s, set) {
        let out = '';
        for (const ch of s)
            out += encodeCp(ch, set);
        return out;
    }
    function hexVal(c) {
        return c >= 48 && c <= 57 ? c - 48 : c >= 65 && c <= 70 ? c - 55 : c >= 97 && c <= 102 ? c - 87 : -1;
    }
    function percentDecodeBytes(bytes) {
        const out = new Uint8Array(bytes.length);
        let n = 0;
        for (let i = 0; i < bytes.length; i++) {
            const b = bytes[i];
            if (b === 0x25 && i + 2 < bytes.length && hexVal(bytes[i + 1]) >= 0 && hexVal(bytes[i + 2]) >= 0) {
                out[n++] = hexVal(bytes[i + 1]) * 16 + hexVal(bytes[i + 2]);
                i += 2;
            } else {
                out[n++] = b;
            }
        }
        return out.subarray(0, n);
    }
    function percentDecodeString(s) {
        return host.utf8Decode(percentDecodeBytes(utf8Bytes(s)), false, false);
    }

    /* ---- hosts ---- */

    function parseIPv4Number(s) {
        if (s === '')
            return NaN;
        let radix = 10;
        if (s.length >= 2 && (s.startsWith('0x') || s.startsWith('0X'))) {
            s = s.slice(2);
            radix = 16;
        } else if (s.length >= 2 && s[0] === '0') {
            s = s.slice(1);
            radix = 8;
        }
        if (s === '')
            return 0;
        const re = radix === 10 ? /^[0-9]+$/ : radix === 16 ? /^[0-9a-fA-F]+$/ : /^[0-7]+$/;
        return re.test(s) ? parseInt(s, radix) : NaN;
    }
    function endsInNumber(s) {
        const parts = s.split('.');
        if (parts[parts.length - 1] === '') {
            if (parts.length === 1)
                return false;
            parts.pop();
        }
        const last = parts[parts.length - 1];
        if (/^[0-9]+$/.test(last))
            return true;
        return !Number.isNaN(parseIPv4Number(last)) && /^0[xX]/.test(last);
    }
    function parseIPv4(s) {
        const parts = s.split('.');
        if (parts[parts.length - 1] === '' && parts.length > 1)
            parts.pop();
        if (parts.length > 4)
            return FAILURE;
        const nums = [];
        for (const p of parts) {
            const n = parseIPv4Number(p);
            if (Number.isNaN(n))
                return FAILURE;
            nums.push(n);
        }
        for (let i = 0; i < nums.length - 1; i++) {
            if (nums[i] > 255)
                return FAILURE;
        }
        if (nums[nums.length - 1] >= 256 ** (5 - nums.length))
            return FAILURE;
        let ip = nums[nums.length - 1];
        for (let i = 0; i < nums.length - 1; i++)
            ip += nums[i] * 256 ** (3 - i);
        const out = [];
        for (let i = 3; i >= 0; i--)
            out.push(Math.floor(ip / 256 ** i) % 256);
        return out.join('.');
    }
    function parseIPv6(s) {
        const a = [0, 0, 0, 0, 0, 0, 0, 0];
        const cps = Array.from(s);
        let piece = 0, compress = null, p = 0;
        const isHex = (c) => c !== undefined && /^[0-9a-fA-F]$/.test(c);
        if (cps[p] === ':') {
            if (cps[p + 1] !== ':')
                return FAILURE;
            p += 2;
            piece++;
            compress = piece;
        }
        while (cps[p] !== undefined) {
            if (piece === 8)
                return FAILURE;
            if (cps[p] === ':') {
                if (compress !== null)
                    return FAILURE;
                p++;
                piece++;
                compress = piece;
                continue;
            }
            let value = 0, length = 0;
            while (length < 4 && isHex(cps[p])) {
                value = value * 16 + parseInt(cps[p], 16);
                p++;
                length++;
            }
            if (cps[p] === '.') {
                if (length === 0)
                    return FAILURE;
                p -= length;
                if (piece > 6)
                    return FAILURE;
                let seen = 0;
                while (cps[p] !== undefined) {
                    let v4 = null;
                    if (seen > 0) {
                        if (cps[p] === '.' && seen < 4)
                            p++;
                        else
                            return FAILURE;
                    }
                    if (cps[p] === undefined || !/^[0-9]$/.test(cps[p]))
                        return FAILURE;
                    while (cps[p] !== undefined && /^[0-9]$/.test(cps[p])) {
                        const n = Number(cps[p]);
                        if (v4 === null)
                            v4 = n;
                        else if (v4 === 0)
                            return FAILURE;
                        else
                            v4 = v4 * 10 + n;
                        if (v4 > 255)
                            return FAILURE;
                        p++;
                    }
                    a[piece] = a[piece] * 256 + v4;
                    seen++;
                    if (seen === 2 || seen === 4)
                        piece++;
                }
                if (seen !== 4)
                    return FAILURE;
                break;
            } else if (cps[p] === ':') {
                p++;
                if (cps[p] === undefined)
                    return FAILURE;
            } else if (cps[p] !== undefined) {
                return FAILURE;
            }
            a[piece] = value;
            piece++;
        }
        if (compress !== null) {
            let swaps = piece - compress;
            piece = 7;
            while (piece !== 0 && swaps > 0) {
                const t = a[piece];
                a[piece] = a[compress + swaps - 1];
                a[compress + swaps - 1] = t;
                piece--;
                swaps--;
            }
        } else if (piece !== 8) {
            return FAILURE;
        }
        return a;
    }
    function serializeIPv6(a) {
        let best = -1, bestLen = 1;
        for (let i = 0; i < 8;) {
            if (a[i] !== 0) {
                i++;
                continue;
            }
            let j = i;
            while (j < 8 && a[j] === 0)
                j++;
            if (j - i > bestLen) {
                best = i;
                bestLen = j - i;
            }
            i = j;
        }
        let out = '';
        let ignore0 = false;
        for (let i = 0; i < 8; i++) {
            if (ignore0 && a[i] === 0)
                continue;
            ignore0 = false;
            if (best === i) {
                out += i === 0 ? '::' : ':';
                ignore0 = true;
                continue;
            }
            out += a[i].toString(16);
            if (i !== 7)
                out += ':';
        }
        return '[' + out + ']';
    }

    /* RFC 3492 punycode of one label. */
    function punycode(label) {
        const base = 36, tmin = 1, tmax = 26, skew = 38, damp = 700;
        const cps = Array.from(label, (c) => c.codePointAt(0));
        let n = 128, delta = 0, bias = 72;
        let out = cps.filter((c) => c < 128).map((c) => String.fromCharCode(c)).join('');
        const b = out.length;
        let h = b;
        if (b > 0)
            out += '-';
        const digit = (d) => String.fromCharCode(d + 22 + 75 * (d < 26));
        const adapt = (d, num, first) => {
            d = first ? Math.floor(d / damp) : d >> 1;
            d += Math.floor(d / num);
            let k = 0;
            while (d > ((base - tmin) * tmax) >> 1) {
                d = Math.floor(d / (base - tmin));
                k += base;
            }
            return k + Math.floor(((base - tmin + 1) * d) / (d + skew));
        };
        while (h < cps.length) {
            let m = Infinity;
            for (const c of cps) {
                if (c >= n && c < m)
                    m = c;
            }
            delta += (m - n) * (h + 1);
            n = m;
            for (const c of cps) {
                if (c < n)
                    delta++;
                if (c === n) {
                    let q = delta;
                    for (let k = base;; k += base) {
                        const t = k <= bias ? tmin : k >= bias + tmax ? tmax : k - bias;
                        if (q < t)
                            break;
                        out += digit(t + ((q - t) % (base - t)));
                        q = Math.floor((q - t) / (base - t));
                    }
                    out += digit(q);
                    bias = adapt(delta, h + 1, h === b);
                    delta = 0;
                    h++;
                }
            }
            delta++;
            n++;
        }
        return out;
    }
    function domainToASCII(domain) {
        domain = domain.normalize('NFC').toLowerCase().replace(/[\u3002\uff0e\uff61]/g, '.');
        return domain.split('.').map((l) => (/^[\x00-\x7f]*$/.test(l) ? l : 'xn--' + punycode(l))).join('.');
    }
    const FORBIDDEN_HOST = /[\0\t\n\r #/:<>?@[\\\]^|]/;
    const FORBIDDEN_DOMAIN = /[\0-\x1f #%/:<>?@[\\\]^|\x7f]/;
    function parseHost(input, opaque) {
        if (input.startsWith('[')) {
            if (!input.endsWith(']'))
                return FAILURE;
            const a = parseIPv6(input.slice(1, -1));
            return a === FAILURE ? FAILURE : serializeIPv6(a);
        }
        if (opaque) {
            if (FORBIDDEN_HOST.test(input))
                return FAILURE;
            return encodeString(input, C0);
        }
        const domain = percentDecodeString(input);
        const ascii = domainToASCII(domain);
        if (ascii === '' || FORBIDDEN_DOMAIN.test(ascii))
            return FAILURE;
        if (endsInNumber(ascii))
            return parseIPv4(ascii);
        return ascii;
    }

    /* ---- the basic URL parser ---- */

    const S = {
        SCHEME_START: 1, SCHEME: 2, NO_SCHEME: 3, SPECIAL_RELATIVE_OR_AUTHORITY: 4,
        PATH_OR_AUTHORITY: 5, RELATIVE: 6, RELATIVE_SLASH: 7, SPECIAL_AUTHORITY_SLASHES: 8,
        SPECIAL_AUTHORITY_IGNORE_SLASHES: 9, AUTHORITY: 10, HOST: 11, HOSTNAME: 12, PORT: 13,
        FILE: 14, FILE_SLASH: 15, FILE_HOST: 16, PATH_START: 17, PATH: 18, OPAQUE_PATH: 19,
        QUERY: 20, FRAGMENT: 21,
    };
    const isAlpha = (c) => c !== undefined && /^[A-Za-z]$/.test(c);
    const isWindowsDriveLetter = (s) => s.length === 2 && isAlpha(s[0]) && (s[1] === ':' || s[1] === '|');
    const isNormalizedDriveLetter = (s) => typeof s === 'string' && s.length === 2 && isAlpha(s[0]) && s[1] === ':';
    function startsWithDriveLetter(cps, p) {
        if (cps.length - p < 2 || !isAlpha(cps[p]) || (cps[p + 1] !== ':' && cps[p + 1] !== '|'))
            return false;
        const c = cps[p + 2];
        return c === undefined || c === '/' || c === '\\' || c === '?' || c === '#';
    }
    const isSingleDot = (s) => s === '.' || s.toLowerCase() === '%2e';
    const isDoubleDot = (s) => ['..', '.%2e', '%2e.', '%2e%2e'].includes(s.toLowerCase());
    function shortenPath(url) {
        const path = url.path;
        if (url.scheme === 'file' && path.length === 1 && isNormalizedDriveLetter(path[0]))
            return;
        path.pop();
    }
    const special = (url) => isSpecialScheme(url.scheme);
    const hasCredentials = (url) => url.username !== '' || url.password !== '';

    function newRecord() {
        return {scheme: '', username: '', password: '', host: null, port: null, path: [], query: null, fragment: null};
    }

    function parse(input, base, url = null, override = 0) {
        if (url === null) {
            url = newRecord();
            input = input.replace(/^[\0-\x20]+|[\0-\x20]+$/g, '');
        }
        input = input.replace(/[\t\n\r]/g, '');
        const cps = Array.from(input);
        let state = override || S.SCHEME_START;
        let buffer = '', atSign = false, brackets = false, passwordSeen = false;
        for (let p = 0;; p++) {
            const c = cps[p];
            const eof = c === undefined;
            switch (state) {
            case S.SCHEME_START:
                if (isAlpha(c)) {
                    buffer += c.toLowerCase();
                    state = S.SCHEME;
                } else if (!override) {
                    state = S.NO_SCHEME;
                    p--;
                } else {
                    return FAILURE;
                }
                break;
            case S.SCHEME:
                if (!eof && /^[A-Za-z0-9+\-.]$/.test(c)) {
                    buffer += c.toLowerCase();
                } else if (c === ':') {
                    if (override) {
                        if (isSpecialScheme(url.scheme) !== isSpecialScheme(buffer))
                            return url;
                        if ((hasCredentials(url) || url.port !== null) && buffer === 'file')
                            return url;
                        if (url.scheme === 'file' && url.host === '')
                            return url;
                    }
                    url.scheme = buffer;
                    if (override) {
                        if (url.port === SPECIAL[url.scheme])
                            url.port = null;
                        return url;
                    }
                    buffer = '';
                    if (url.scheme === 'file') {
                        state = S.FILE;
                    } else if (special(url) && base !== null && base.scheme === url.scheme) {
                        state = S.SPECIAL_RELATIVE_OR_AUTHORITY;
                    } else if (special(url)) {
                        state = S.SPECIAL_AUTHORITY_SLASHES;
                    } else if (cps[p + 1] === '/') {
                        state = S.PATH_OR_AUTHORITY;
                        p++;
                    } else {
                        url.path = '';
                        state = S.OPAQUE_PATH;
                    }
                } else if (!override) {
                    buffer = '';
                    state = S.NO_SCHEME;
                    p = -1;
                } else {
                    return FAILURE;
                }
                break;
            case S.NO_SCHEME:
                if (base === null || (typeof base.path === 'string' && c !== '#'))
                    return FAILURE;
                if (typeof base.path === 'string' && c === '#') {
                    url.scheme = base.scheme;
                    url.path = base.path;
                    url.query = base.query;
                    url.fragment = '';
                    state = S.FRAGMENT;
                } else if (base.scheme !== 'file') {
                    state = S.RELATIVE;
                    p--;
                } else {
                    state = S.FILE;
                    p--;
                }
                break;
            case S.SPECIAL_RELATIVE_OR_AUTHORITY:
                if (c === '/' && cps[p + 1] === '/') {
                    state = S.SPECIAL_AUTHORITY_IGNORE_SLASHES;
                    p++;
                } else {
                    state = S.RELATIVE;
                    p--;
                }
                break;
            case S.PATH_OR_AUTHORITY:
                if (c === '/') {
                    state = S.AUTHORITY;
                } else {
                    state = S.PATH;
                    p--;
                }
                break;
            case S.RELATIVE:
                url.scheme = base.scheme;
                if (c === '/' || (special(url) && c === '\\')) {
                    state = S.RELATIVE_SLASH;
                } else {
                    url.username = base.username;
                    url.password = base.password;
                    url.host = base.host;
                    url.port = base.port;
                    url.path = base.path.slice();
                    url.query = base.query;
                    if (c === '?') {
                        url.query = '';
                        state = S.QUERY;
                    } else if (c === '#') {
                        url.fragment = '';
                        state = S.FRAGMENT;
                    } else if (!eof) {
                        url.query = null;
                        shortenPath(url);
                        state = S.PATH;
                        p--;
                    }
                }
                break;
            case S.RELATIVE_SLASH:
                if (special(url) && (c === '/' || c === '\\')) {
                    state = S.SPECIAL_AUTHORITY_IGNORE_SLASHES;
                } else if (c === '/') {
                    state = S.AUTHORITY;
                } else {
                    url.username = base.username;
                    url.password = base.password;
                    url.host = base.host;
                    url.port = base.port;
                    state = S.PATH;
                    p--;
                }
                break;
            case S.SPECIAL_AUTHORITY_SLASHES:
                state = S.SPECIAL_AUTHORITY_IGNORE_SLASHES;
                if (c === '/' && cps[p + 1] === '/')
                    p++;
                else
                    p--;
                break;
            case S.SPECIAL_AUTHORITY_IGNORE_SLASHES:
                if (c !== '/' && c !== '\\') {
                    state = S.AUTHORITY;
                    p--;
                }
                break;
            case S.AUTHORITY:
                if (c === '@') {
                    if (atSign)
                        buffer = '%40' + buffer;
                    atSign = true;
                    for (const ch of buffer) {
                        if (ch === ':' && !passwordSeen) {
                            passwordSeen = true;
                            continue;
                        }
                        if (passwordSeen)
                            url.password += encodeCp(ch, USERINFO_SET);
                        else
                            url.username += encodeCp(ch, USERINFO_SET);
                    }
                    buffer = '';
                } else if (eof || c === '/' || c === '?' || c === '#' || (special(url) && c === '\\')) {
                    if (atSign && buffer === '')
                        return FAILURE;
                    p -= Array.from(buffer).length + 1;
                    buffer = '';
                    state = S.HOST;
                } else {
                    buffer += c;
                }
                break;
            case S.HOST:
            case S.HOSTNAME:
                if (override && url.scheme === 'file') {
                    p--;
                    state = S.FILE_HOST;
                } else if (c === ':' && !brackets) {
                    if (buffer === '')
                        return FAILURE;
                    if (override === S.HOSTNAME)
                        return FAILURE;
                    const h = parseHost(buffer, !special(url));
                    if (h === FAILURE)
                        return FAILURE;
                    url.host = h;
                    buffer = '';
                    state = S.PORT;
                } else if (eof || c === '/' || c === '?' || c === '#' || (special(url) && c === '\\')) {
                    p--;
                    if (special(url) && buffer === '')
                        return FAILURE;
                    if (override && buffer === '' && (hasCredentials(url) || url.port !== null))
                        return FAILURE;
                    const h = parseHost(buffer, !special(url));
                    if (h === FAILURE)
                        return FAILURE;
                    url.host = h;
                    buffer = '';
                    state = S.PATH_START;
                    if (override)
                        return url;
                } else {
                    if (c === '[')
                        brackets = true;
                    if (c === ']')
                        brackets = false;
                    buffer += c;
                }
                break;
            case S.PORT:
                if (!eof && /^[0-9]$/.test(c)) {
                    buffer += c;
                } else if (eof || c === '/' || c === '?' || c === '#' || (special(url) && c === '\\') || override) {
                    if (buffer !== '') {
                        const port = parseInt(buffer, 10);
                        if (port > 65535)
                            return FAILURE;
                        url.port = SPECIAL[url.scheme] === port ? null : port;
                        buffer = '';
                        if (override)
                            return url;
                    }
                    if (override)
                        return FAILURE;
                    state = S.PATH_START;
                    p--;
                } else {
                    return FAILURE;
                }
                break;
            case S.FILE:
                url.scheme = 'file';
                url.host = '';
                if (c === '/' || c === '\\') {
                    state = S.FILE_SLASH;
                } else if (base !== null && base.scheme === 'file') {
                    url.host = base.host;
                    url.path = base.path.slice();
                    url.query = base.query;
                    if (c === '?') {
                        url.query = '';
                        state = S.QUERY;
                    } else if (c === '#') {
                        url.fragment = '';
                        state = S.FRAGMENT;
                    } else if (!eof) {
                        url.query = null;
                        if (!startsWithDriveLetter(cps, p))
                            shortenPath(url);
                        else
                            url.path = [];
                        state = S.PATH;
                        p--;
                    }
                } else {
                    state = S.PATH;
                    p--;
                }
                break;
            case S.FILE_SLASH:
                if (c === '/' || c === '\\') {
                    state = S.FILE_HOST;
                } else {
                    if (base !== null && base.scheme === 'file') {
                        url.host = base.host;
                        if (!startsWithDriveLetter(cps, p) && isNormalizedDriveLetter(base.path[0]))
                            url.path.push(base.path[0]);
                    }
                    state = S.PATH;
                    p--;
                }
                break;
            case S.FILE_HOST:
                if (eof || c === '/' || c === '\\' || c === '?' || c === '#') {
                    p--;
                    if (!override && isWindowsDriveLetter(buffer)) {
                        state = S.PATH;
                    } else if (buffer === '') {
                        url.host = '';
                        if (override)
                            return url;
                        state = S.PATH_START;
                    } else {
                        let h = parseHost(buffer, false);
                        if (h === FAILURE)
                            return FAILURE;
                        if (h === 'localhost')
                            h = '';
                        url.host = h;
                        if (override)
                            return url;
                        buffer = '';
                        state = S.PATH_START;
                    }
                } else {
                    buffer += c;
                }
                break;
            case S.PATH_START:
                if (special(url)) {
                    state = S.PATH;
                    if (c !== '/' && c !== '\\')
                        p--;
                } else if (!override && c === '?') {
                    url.query = '';
                    state = S.QUERY;
                } else if (!override && c === '#') {
                    url.fragment = '';
                    state = S.FRAGMENT;
                } else if (!eof) {
                    state = S.PATH;
                    if (c !== '/')
                        p--;
                } else if (override && url.host === null) {
                    url.path.push('');
                }
                break;
            case S.PATH: {
                const slash = c === '/' || (special(url) && c === '\\');
                if (eof || slash || (!override && (c === '?' || c === '#'))) {
                    if (isDoubleDot(buffer)) {
                        shortenPath(url);
                        if (!slash)
                            url.path.push('');
                    } else if (isSingleDot(buffer) && !slash) {
                        url.path.push('');
                    } else if (!isSingleDot(buffer)) {
                        if (url.scheme === 'file' && url.path.length === 0 && isWindowsDriveLetter(buffer))
                            buffer = buffer[0] + ':';
                        url.path.push(buffer);
                    }
                    buffer = '';
                    if (c === '?') {
                        url.query = '';
                        state = S.QUERY;
                    }
                    if (c === '#') {
                        url.fragment = '';
                        state = S.FRAGMENT;
                    }
                } else {
                    buffer += encodeCp(c, PATH_SET);
                }
                break;
            }
            case S.OPAQUE_PATH:
                if (c === '?') {
                    url.query = '';
                    state = S.QUERY;
                } else if (c === '#') {
                    url.fragment = '';
                    state = S.FRAGMENT;
                } else if (!eof) {
                    url.path += encodeCp(c, C0);
                }
                break;
            case S.QUERY:
                if (eof || (!override && c === '#')) {
                    url.query += encodeString(buffer, special(url) ? SPECIAL_QUERY_SET : QUERY_SET);
                    buffer = '';
                    if (c === '#') {
                        url.fragment = '';
                        state = S.FRAGMENT;
                    }
                } else {
                    buffer += c;
                }
                break;
            case S.FRAGMENT:
                if (!eof)
                    url.fragment += encodeCp(c, FRAGMENT_SET);
                break;
            }
            if (p >= cps.length)
                break;
        }
        return url;
    }

    function serializePath(url) {
        if (typeof url.path === 'string')
            return url.path;
        let out = '';
        for (const seg of url.path)
            out += '/' + seg;
        return out;
    }
    function serialize(url, excludeFragment = false) {
        let out = url.scheme + ':';
        if (url.host !== null) {
            out += '//';
            if (hasCredentials(url)) {
                out += url.username;
                if (url.password !== '')
                    out += ':' + url.password;
                out += '@';
            }
            out += url.host;
            if (url.port !== null)
                out += ':' + url.port;
        } else if (typeof url.path !== 'string' && url.path.length > 1 && url.path[0] === '') {
            out += '/.';
        }
        out += serializePath(url);
        if (url.query !== null)
            out += '?' + url.query;
        if (!excludeFragment && url.fragment !== null)
            out += '#' + url.fragment;
        return out;
    }

    /* ---- application/x-www-form-urlencoded ---- */

    const toUSV = (v) => String(v).toWellFormed();
    function formParse(s) {
        const out = [];
        for (const seq of s.split('&')) {
            if (seq === '')
                continue;
            const i = seq.indexOf('=');
            const name = (i < 0 ? seq : seq.slice(0, i)).replace(/\+/g, ' ');
            const value = (i < 0 ? '' : seq.slice(i + 1)).replace(/\+/g, ' ');
            out.push([percentDecodeString(name), percentDecodeString(value)]);
        }
        return out;
    }
    function formEncode(s) {
        let out = '';
        for (const b of utf8Bytes(s)) {
            if (b === 0x20)
                out += '+';
            else if ((b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x5a) || (b >= 0x61 && b <= 0x7a) ||
                     b === 0x2a || b === 0x2d || b === 0x2e || b === 0x5f)
                out += String.fromCharCode(b);
            else
                out += '%' + HEX[b >> 4] + HEX[b & 15];
        }
        return out;
    }
    function formSerialize(list) {
        return list.map((p) => formEncode(p[0]) + '=' + formEncode(p[1])).join('&');
    }

    let paramsAttach, paramsReset;
    class URLSearchParams {
        #list = [];
        #url = null;
        constructor(init = '') {
            if (typeof init === 'object' && init !== null) {
                if (typeof init[Symbol.iterator] === 'function') {
                    for (const pair of init) {
                        const p = Array.from(pair);
                        if (p.length !== 2)
                            throw new TypeError('URLSearchParams: each pair must have a name and a value');
                        this.#list.push([toUSV(p[0]), toUSV(p[1])]);
                    }
                } else {
                    for (const k of Object.keys(init))
                        this.#list.push([toUSV(k), toUSV(init[k])]);
                }
            } else {
                let s = toUSV(init);
                if (s.startsWith('?'))
                    s = s.slice(1);
                this.#list = formParse(s);
            }
        }
        #update() {
            if (this.#url === null)
                return;
            const q = formSerialize(this.#list);
            this.#url.query = q === '' ? null : q;
        }
        get size() { return this.#list.length; }
        append(name, value) {
            this.#list.push([toUSV(name), toUSV(value)]);
            this.#update();
        }
        delete(name, value = undefined) {
            name = toUSV(name);
            const v = value === undefined ? undefined : toUSV(value);
            this.#list = this.#list.filter((p) => !(p[0] === name && (v === undefined || p[1] === v)));
            this.#update();
        }
        get(name) {
            name = toUSV(name);
            const p = this.#list.find((x) => x[0] === name);
            return p === undefined ? null : p[1];
        }
        getAll(name) {
            name = toUSV(name);
            return this.#list.filter((x) => x[0] === name).map((x) => x[1]);
        }
        has(name, value = undefined) {
            name = toUSV(name);
            const v = value === undefined ? undefined : toUSV(value);
            return this.#list.some((p) => p[0] === name && (v === undefined || p[1] === v));
        }
        set(name, value) {
            name = toUSV(name);
            value = toUSV(value);
            const i = this.#list.findIndex((p) => p[0] === name);
            if (i < 0) {
                this.#list.push([name, value]);
            } else {
                this.#list[i] = [name, value];
                this.#list = this.#list.filter((p, j) => j <= i || p[0] !== name);
            }
            this.#update();
        }
        sort() {
            this.#list = this.#list
                .map((p, i) => [p, i])
                .sort((a, b) => (a[0][0] < b[0][0] ? -1 : a[0][0] > b[0][0] ? 1 : a[1] - b[1]))
                .map((x) => x[0]);
            this.#update();
        }
        toString() { return formSerialize(this.#list); }
        forEach(callback, thisArg = undefined) {
            for (const [n, v] of this.#list.slice())
                callback.call(thisArg, v, n, this);
        }
        *entries() {
            for (let i = 0; i < this.#list.length; i++)
                yield [this.#list[i][0], this.#list[i][1]];
        }
        *keys() {
            for (const [n] of this.entries())
                yield n;
        }
        *values() {
            for (const [, v] of this.entries())
                yield v;
        }
        [Symbol.iterator]() { return this.entries(); }
        [Symbol.for('nodejs.util.inspect.custom')]() {
            return 'URLSearchParams {' + this.#list.map((p) => ' ' + JSON.stringify(p[0]) + ' => ' + JSON.stringify(p[1])).join(',') + (this.#list.length ? ' }' : '}');
        }
        static {
            paramsAttach = (sp, record) => {
                sp.#url = record;
            };
            paramsReset = (sp, query) => {
                sp.#list = query === null ? [] : formParse(query);
            };
            shared.isURLSearchParams = (v) => typeof v === 'object' && v !== null && #list in v;
        }
    }
    Object.defineProperty(URLSearchParams.prototype, Symbol.toStringTag, {value: 'URLSearchParams', configurable: true});

    class URL {
        #url;
        #params;
        constructor(url, base = undefined) {
            if (arguments.length < 1)
                throw new TypeError('URL requires a url argument');
            let b = null;
            if (base !== undefined) {
                b = parse(String(base), null);
                if (b === FAILURE)
                    throw new TypeError('Invalid base URL: ' + String(base));
            }
            const u = parse(String(url), b);
            if (u === FAILURE)
                throw new TypeError('Invalid URL: ' + String(url));
            this.#url = u;
            this.#params = new URLSearchParams(u.query === null ? '' : u.query);
            paramsAttach(this.#params, u);
        }
        static canParse(url, base = undefined) {
            try {
                new URL(url, base);
                return true;
            } catch (e) {
                return false;
            }
        }
        static parse(url, base = undefined) {
            try {
                return new URL(url, base);
            } catch (e) {
                return null;
            }
        }
        #reattach(u) {
            this.#url = u;
            paramsAttach(this.#params, u);
            paramsReset(this.#params, u.query);
        }
        get href() { return serialize(this.#url); }
        set href(v) {
            const u = parse(String(v), null);
            if (u === FAILURE)
                throw new TypeError('Invalid URL: ' + String(v));
            this.#reattach(u);
        }
        get origin() {
            const u = this.#url;
            if (u.scheme === 'file' || !isSpecialScheme(u.scheme))
                return 'null';
            return u.scheme + '://' + u.host + (u.port === null ? '' : ':' + u.port);
        }
        get protocol() { return this.#url.scheme + ':'; }
        set protocol(v) { parse(String(v) + ':', null, this.#url, S.SCHEME_START); }
        get username() { return this.#url.username; }
        set username(v) {
            const u = this.#url;
            if (u.host === null || u.host === '' || u.scheme === 'file')
                return;
            u.username = encodeString(String(v), USERINFO_SET);
        }
        get password() { return this.#url.password; }
        set password(v) {
            const u = this.#url;
            if (u.host === null || u.host === '' || u.scheme === 'file')
                return;
            u.password = encodeString(String(v), USERINFO_SET);
        }
        get host() {
            const u = this.#url;
            if (u.host === null)
                return '';
            return u.port === null ? u.host : u.host + ':' + u.port;
        }
        set host(v) {
            if (typeof this.#url.path === 'string')
                return;
            this.#setPart(String(v), S.HOST);
        }
        get hostname() { return this.#url.host === null ? '' : this.#url.host; }
        set hostname(v) {
            if (typeof this.#url.path === 'string')
                return;
            this.#setPart(String(v), S.HOSTNAME);
        }
        get port() { return this.#url.port === null ? '' : String(this.#url.port); }
        set port(v) {
            const u = this.#url;
            if (u.host === null || u.host === '' || u.scheme === 'file')
                return;
            v = String(v);
            if (v === '')
                u.port = null;
            else
                this.#setPart(v, S.PORT);
        }
        get pathname() { return serializePath(this.#url); }
        set pathname(v) {
            const u = this.#url;
            if (typeof u.path === 'string')
                return;
            const saved = u.path;
            u.path = [];
            if (parse(String(v), null, u, S.PATH_START) === FAILURE)
                u.path = saved;
        }
        get search() {
            const q = this.#url.query;
            return q === null || q === '' ? '' : '?' + q;
        }
        set search(v) {
            const u = this.#url;
            v = String(v);
            if (v === '') {
                u.query = null;
                paramsReset(this.#params, null);
                return;
            }
            u.query = '';
            parse(v.startsWith('?') ? v.slice(1) : v, null, u, S.QUERY);
            paramsReset(this.#params, u.query);
        }
        get searchParams() { return this.#params; }
        get hash() {
            const f = this.#url.fragment;
            return f === null || f === '' ? '' : '#' + f;
        }
        set hash(v) {
            const u = this.#url;
            v = String(v);
            if (v === '') {
                u.fragment = null;
                return;
            }
            u.fragment = '';
            parse(v.startsWith('#') ? v.slice(1) : v, null, u, S.FRAGMENT);
        }
        /* Setters parse into a copy so a failure leaves the URL as it was. */
        #setPart(v, state) {
            const copy = Object.assign({}, this.#url);
            copy.path = typeof copy.path === 'string' ? copy.path : copy.path.slice();
            if (parse(v, null, copy, state) !== FAILURE)
                Object.assign(this.#url, copy);
        }
        toString() { return serialize(this.#url); }
        toJSON() { return serialize(this.#url); }
        [Symbol.for('nodejs.util.inspect.custom')]() {
            return 'URL ' + JSON.stringify(serialize(this.#url));
        }
        static {
            shared.isURL = (v) => typeof v === 'object' && v !== null && #url in v;
        }
    }
    Object.defineProperty(URL.prototype, Symbol.toStringTag, {value: 'URL', configurable: true});

    return {URL, URLSearchParams};
})

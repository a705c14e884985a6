/*
 * Native halves of the web APIs in js/web.js and js/core.js: UTF-8 encode/decode (TextEncoder,
 * TextDecoder, Response.text), forgiving base64 (atob/btoa), crypto randomness and a monotonic
 * clock. They work on bytes, where JavaScript would be slow; they need no run state except now().
 */
#include <stdlib.h>
#include <string.h>

#include "engine/internal.h"
#include "util/base64.h"
#include "util/timeutil.h"
#include "util/uuid.h"
#include "util/xalloc.h"

/* host.utf8Encode(string) -> ArrayBuffer */
HOST_FN(host_utf8_encode)
{
    if (argc < 1)
        return js_throw(ctx, exc, "utf8Encode: missing argument");
    JSStringRef s = JSValueToStringCopy(ctx, argv[0], exc);
    if (!s)
        return NULL;
    size_t n = JSStringGetLength(s);
    char *out = xmalloc(n * 3 + 1);
    size_t len = utf16_to_utf8(JSStringGetCharactersPtr(s), n, out);
    JSStringRelease(s);
    return js_array_buffer_take(ctx, out, len);
}

/* host.utf8Decode(bytes, fatal, stripBOM) -> string, or null when fatal and the bytes are not
 * UTF-8. */
HOST_FN(host_utf8_decode)
{
    unsigned char *data = NULL;
    size_t len = 0;
    if (argc < 1 || !js_bytes(ctx, argv[0], &data, &len))
        return js_throw(ctx, exc, "utf8Decode: expected an ArrayBuffer or a view of one");
    bool fatal = argc > 1 && JSValueToBoolean(ctx, argv[1]);
    bool strip_bom = argc > 2 && JSValueToBoolean(ctx, argv[2]);
    if (strip_bom && len >= 3 && data[0] == 0xEF && data[1] == 0xBB && data[2] == 0xBF) {
        data += 3;
        len -= 3;
    }
    uint16_t *buf = xmalloc((len ? len : 1) * sizeof(uint16_t));
    bool invalid = false;
    size_t n = utf8_to_utf16(data, len, buf, &invalid);
    JSValueRef v;
    if (fatal && invalid) {
        v = JSValueMakeNull(ctx);
    } else {
        JSStringRef s = JSStringCreateWithCharacters(buf, n);
        v = JSValueMakeString(ctx, s);
        JSStringRelease(s);
    }
    free(buf);
    return v;
}

/* host.btoa(string) -> base64, or null when a character is outside Latin-1. */
HOST_FN(host_btoa)
{
    JSStringRef s = argc > 0 ? JSValueToStringCopy(ctx, argv[0], exc) : NULL;
    if (!s)
        return argc > 0 ? NULL : js_throw(ctx, exc, "btoa: missing argument");
    size_t n = JSStringGetLength(s);
    const uint16_t *c = JSStringGetCharactersPtr(s);
    char *out = xmalloc((n + 2) / 3 * 4 + 1);
    size_t o = 0;
    bool ok = true;
    for (size_t i = 0; i < n && ok; i += 3) {
        uint32_t v = 0;
        size_t k = n - i < 3 ? n - i : 3;
        for (size_t j = 0; j < 3; j++) {
            uint16_t ch = j < k ? c[i + j] : 0;
            if (ch > 0xFF)
                ok = false;
            v = (v << 8) | (ch & 0xFF);
        }
        out[o++] = base64_alphabet[(v >> 18) & 63];
        out[o++] = base64_alphabet[(v >> 12) & 63];
        out[o++] = k > 1 ? base64_alphabet[(v >> 6) & 63] : '=';
        out[o++] = k > 2 ? base64_alphabet[v & 63] : '=';
    }
    JSStringRelease(s);
    JSValueRef r = ok ? js_string_value(ctx, out, o) : JSValueMakeNull(ctx);
    free(out);
    return r;
}

/* host.atob(string) -> Latin-1 string of the decoded bytes, or null when it is not base64
 * (WHATWG forgiving-base64: ASCII whitespace ignored, padding optional). */
HOST_FN(host_atob)
{
    JSStringRef s = argc > 0 ? JSValueToStringCopy(ctx, argv[0], exc) : NULL;
    if (!s)
        return argc > 0 ? NULL : js_throw(ctx, exc, "atob: missing argument");
    size_t n = JSStringGetLength(s);
    const uint16_t *c = JSStringGetCharactersPtr(s);
    uint16_t *clean = xmalloc((n ? n : 1) * sizeof(uint16_t));
    size_t m = 0;
    for (size_t i = 0; i < n; i++) {
        uint16_t ch = c[i];
        if (ch == ' ' || ch == '\t' || ch == '\n' || ch == '\f' || ch == '\r')
            continue;
        clean[m++] = ch;
    }
    JSStringRelease(s);
    if (m % 4 == 0 && m > 0 && clean[m - 1] == '=') {
        m--;
        if (clean[m - 1] == '=')
            m--;
    }
    JSValueRef r = NULL;
    uint16_t *out = xmalloc((m * 3 / 4 + 1) * sizeof(uint16_t));
    size_t o = 0;
    bool ok = m % 4 != 1;
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < m && ok; i++) {
        int v = base64_sextet(clean[i]);
        if (v < 0) {
            ok = false;
            break;
        }
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (uint16_t)((acc >> bits) & 0xFF);
        }
    }
    if (ok) {
        JSStringRef str = JSStringCreateWithCharacters(out, o);
        r = JSValueMakeString(ctx, str);
        JSStringRelease(str);
    } else {
        r = JSValueMakeNull(ctx);
    }
    free(out);
    free(clean);
    return r;
}

/* host.randomFill(typedArray) */
HOST_FN(host_random_fill)
{
    unsigned char *data = NULL;
    size_t len = 0;
    if (argc < 1 || !js_bytes(ctx, argv[0], &data, &len))
        return js_throw(ctx, exc, "randomFill: expected a typed array");
    if (len > 65536)
        return js_throw(ctx, exc, "randomFill: at most 65536 bytes");
    if (len)
        random_bytes(data, len);
    return JSValueMakeUndefined(ctx);
}

/* host.randomUUID() */
HOST_FN(host_random_uuid)
{
    char id[UUID_STR_LEN];
    uuid_v4(id);
    return js_string_value(ctx, id, strlen(id));
}

/* host.now() -> ms (fractional) since the run started; performance.now(). */
HOST_FN(host_now)
{
    struct engine_run *run = self ? JSObjectGetPrivate(self) : NULL;
    int64_t start = run ? run->start_ns : 0;
    return JSValueMakeNumber(ctx, (double)(time_mono_ns() - start) / 1e6);
}

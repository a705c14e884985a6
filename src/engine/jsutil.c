/*
 * Small JavaScriptCore helpers for the engine's files: strings in and out (our own UTF-8 <->
 * UTF-16 conversion, binary-safe and WHATWG-conformant for invalid input), property access by
 * pre-made names, byte views of ArrayBuffers and typed arrays, and throwing from host methods.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/internal.h"
#include "util/xalloc.h"

#define REPLACEMENT 0xFFFD

size_t utf8_to_utf16(const unsigned char *s, size_t len, uint16_t *out, bool *invalid)
{
    size_t i = 0, n = 0;
    bool bad = false;
    while (i < len) {
        unsigned c = s[i];
        if (c < 0x80) {
            out[n++] = (uint16_t)c;
            i++;
            continue;
        }
        unsigned need, lower = 0x80, upper = 0xBF, cp;
        if (c >= 0xC2 && c <= 0xDF) {
            need = 1;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            need = 2;
            cp = c & 0x0F;
            lower = c == 0xE0 ? 0xA0 : 0x80;
            upper = c == 0xED ? 0x9F : 0xBF;
        } else if (c >= 0xF0 && c <= 0xF4) {
            need = 3;
            cp = c & 0x07;
            lower = c == 0xF0 ? 0x90 : 0x80;
            upper = c == 0xF4 ? 0x8F : 0xBF;
        } else {
            out[n++] = REPLACEMENT;
            bad = true;
            i++;
            continue;
        }
        i++;
        unsigned got = 0;
        while (got < need && i < len && s[i] >= lower && s[i] <= upper) {
            cp = (cp << 6) | (s[i] & 0x3F);
            lower = 0x80;
            upper = 0xBF;
            i++;
            got++;
        }
        if (got < need) {
            out[n++] = REPLACEMENT; /* the maximal subpart; the offending byte is re-read */
            bad = true;
            continue;
        }
        if (cp >= 0x10000) {
            cp -= 0x10000;
            out[n++] = (uint16_t)(0xD800 + (cp >> 10));
            out[n++] = (uint16_t)(0xDC00 + (cp & 0x3FF));
        } else {
            out[n++] = (uint16_t)cp;
        }
    }
    if (invalid)
        *invalid = bad;
    return n;
}

size_t utf16_to_utf8(const uint16_t *s, size_t n, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        uint32_t cp = s[i];
        if (cp >= 0xD800 && cp <= 0xDBFF && i + 1 < n && s[i + 1] >= 0xDC00 && s[i + 1] <= 0xDFFF) {
            cp = 0x10000 + ((cp - 0xD800) << 10) + (s[i + 1] - 0xDC00);
            i++;
        } else if (cp >= 0xD800 && cp <= 0xDFFF) {
            cp = REPLACEMENT;
        }
        if (cp < 0x80) {
            out[o++] = (char)cp;
        } else if (cp < 0x800) {
            out[o++] = (char)(0xC0 | (cp >> 6));
            out[o++] = (char)(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            out[o++] = (char)(0xE0 | (cp >> 12));
            out[o++] = (char)(0x80 | ((cp >> 6) & 0x3F));
            out[o++] = (char)(0x80 | (cp & 0x3F));
        } else {
            out[o++] = (char)(0xF0 | (cp >> 18));
            out[o++] = (char)(0x80 | ((cp >> 12) & 0x3F));
            out[o++] = (char)(0x80 | ((cp >> 6) & 0x3F));
            out[o++] = (char)(0x80 | (cp & 0x3F));
        }
    }
    return o;
}

JSStringRef js_string_new(const char *s, size_t len)
{
    uint16_t stack[256];
    uint16_t *buf = len <= 256 ? stack : xmalloc(len * sizeof(uint16_t));
    size_t n = utf8_to_utf16((const unsigned char *)s, len, buf, NULL);
    JSStringRef str = JSStringCreateWithCharacters(buf, n);
    if (buf != stack)
        free(buf);
    return str;
}

JSValueRef js_string_value(JSContextRef ctx, const char *s, size_t len)
{
    JSStringRef str = js_string_new(s, len);
    JSValueRef v = JSValueMakeString(ctx, str);
    JSStringRelease(str);
    return v;
}

JSValueRef js_cstring_value(JSContextRef ctx, const char *s)
{
    if (!s)
        return JSValueMakeNull(ctx);
    return js_string_value(ctx, s, strlen(s));
}

char *js_string_utf8(JSStringRef s, size_t *len)
{
    size_t n = JSStringGetLength(s);
    char *out = xmalloc(n * 3 + 1);
    size_t o = utf16_to_utf8(JSStringGetCharactersPtr(s), n, out);
    out[o] = '\0';
    if (len)
        *len = o;
    return out;
}

char *js_value_utf8(JSContextRef ctx, JSValueRef v, size_t *len, JSValueRef *exc)
{
    JSValueRef e = NULL;
    JSStringRef s = JSValueToStringCopy(ctx, v, &e);
    if (!s) {
        if (exc)
            *exc = e;
        return NULL;
    }
    char *out = js_string_utf8(s, len);
    JSStringRelease(s);
    return out;
}

JSValueRef js_get(JSContextRef ctx, JSObjectRef obj, JSStringRef name)
{
    return JSObjectGetProperty(ctx, obj, name, NULL);
}

void js_set(JSContextRef ctx, JSObjectRef obj, JSStringRef name, JSValueRef v)
{
    JSObjectSetProperty(ctx, obj, name, v, kJSPropertyAttributeNone, NULL);
}

JSValueRef js_throw(JSContextRef ctx, JSValueRef *exc, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    JSValueRef arg = js_cstring_value(ctx, msg);
    *exc = JSObjectMakeError(ctx, 1, &arg, NULL);
    return NULL;
}

bool js_bytes(JSContextRef ctx, JSValueRef v, unsigned char **data, size_t *len)
{
    if (!JSValueIsObject(ctx, v))
        return false;
    JSObjectRef o = (JSObjectRef)v;
    JSTypedArrayType type = JSValueGetTypedArrayType(ctx, v, NULL);
    if (type == kJSTypedArrayTypeNone)
        return false;
    if (type == kJSTypedArrayTypeArrayBuffer) {
        *data = JSObjectGetArrayBufferBytesPtr(ctx, o, NULL);
        *len = JSObjectGetArrayBufferByteLength(ctx, o, NULL);
        return true;
    }
    /* The bytes pointer is the buffer's start: the view's offset is ours to add. */
    unsigned char *base = JSObjectGetTypedArrayBytesPtr(ctx, o, NULL);
    *len = JSObjectGetTypedArrayByteLength(ctx, o, NULL);
    *data = base ? base + JSObjectGetTypedArrayByteOffset(ctx, o, NULL) : NULL;
    return true;
}

static void free_bytes(void *bytes, void *ctx)
{
    (void)ctx;
    free(bytes);
}

JSObjectRef js_array_buffer_take(JSContextRef ctx, char *data, size_t len)
{
    if (!data)
        data = xmalloc(1);
    return JSObjectMakeArrayBufferWithBytesNoCopy(ctx, data, len, free_bytes, NULL, NULL);
}

/*
 * WebSocket frame parsing and encoding (ws_proto.h). The reader buffers at most one frame;
 * a frame is checked from its header (so an announced oversized frame is refused before any
 * of it is buffered), unmasked in place, then either delivered (control frames, whole
 * messages) or appended to the message being reassembled.
 */
#include "http/ws_proto.h"

#include <stdio.h>
#include <string.h>

#include "util/utf8.h"

int ws_frame_header_parse(const uint8_t *buf, size_t len, struct ws_frame_header *h)
{
    if (len < 2)
        return 0;
    memset(h, 0, sizeof(*h));
    h->fin = buf[0] & 0x80;
    h->rsv = (buf[0] >> 4) & 0x7;
    h->opcode = buf[0] & 0x0f;
    h->masked = buf[1] & 0x80;
    uint64_t plen = buf[1] & 0x7f;
    size_t need = 2;
    if (plen == 126)
        need += 2;
    else if (plen == 127)
        need += 8;
    if (h->masked)
        need += 4;
    if (len < need)
        return 0;
    size_t off = 2;
    if (plen == 126) {
        plen = ((uint64_t)buf[2] << 8) | buf[3];
        off = 4;
    } else if (plen == 127) {
        plen = 0;
        for (int i = 0; i < 8; i++)
            plen = (plen << 8) | buf[2 + i];
        off = 10;
    }
    if (h->masked) {
        memcpy(h->mask, buf + off, 4);
        off += 4;
    }
    h->payload_len = plen;
    h->header_len = off;
    return 1;
}

void ws_reader_init(struct ws_reader *r, size_t max_message)
{
    memset(r, 0, sizeof(*r));
    r->max_message = max_message;
    /* One frame header plus one frame's payload is all "in" ever has to hold. */
    strbuf_init(&r->in, max_message + 14 + 65536);
    strbuf_init(&r->msg, max_message);
}

void ws_reader_release(struct ws_reader *r)
{
    strbuf_release(&r->in);
    strbuf_release(&r->msg);
}

bool ws_close_code_valid(int code)
{
    return (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) ||
           (code >= 3000 && code <= 4999);
}

static int fail(struct ws_reader *r, int code, const char *why)
{
    r->error = code;
    snprintf(r->why, sizeof(r->why), "%s", why);
    strbuf_release(&r->in);
    strbuf_release(&r->msg);
    return code;
}

/* Checks a header against the rules for a frame from a client; 0 or a close code. */
static int check_header(struct ws_reader *r, const struct ws_frame_header *h)
{
    if (h->rsv)
        return fail(r, WS_CLOSE_PROTOCOL, "reserved bits set (no extension was agreed)");
    if (!h->masked)
        return fail(r, WS_CLOSE_PROTOCOL, "client frames must be masked");
    if (h->payload_len >> 63)
        return fail(r, WS_CLOSE_PROTOCOL, "frame length has its top bit set");
    switch (h->opcode) {
    case WS_OP_CLOSE:
    case WS_OP_PING:
    case WS_OP_PONG:
        if (!h->fin)
            return fail(r, WS_CLOSE_PROTOCOL, "fragmented control frame");
        if (h->payload_len > 125)
            return fail(r, WS_CLOSE_PROTOCOL, "control frame longer than 125 bytes");
        return 0;
    case WS_OP_TEXT:
    case WS_OP_BINARY:
        if (r->msg_op)
            return fail(r, WS_CLOSE_PROTOCOL, "new message before the last one ended");
        break;
    case WS_OP_CONT:
        if (!r->msg_op)
            return fail(r, WS_CLOSE_PROTOCOL, "continuation frame without a message");
        break;
    default:
        return fail(r, WS_CLOSE_PROTOCOL, "reserved opcode");
    }
    if (h->payload_len > r->max_message - (h->opcode == WS_OP_CONT ? r->msg.len : 0))
        return fail(r, WS_CLOSE_TOO_BIG, "message too big");
    return 0;
}

static int deliver(struct ws_reader *r, const struct ws_frame_header *h, char *payload,
                   ws_event_fn *fn, void *ud)
{
    size_t len = (size_t)h->payload_len;
    switch (h->opcode) {
    case WS_OP_PING:
    case WS_OP_PONG:
        fn(ud, (enum ws_op)h->opcode, payload, len);
        return 0;
    case WS_OP_CLOSE:
        if (len == 1)
            return fail(r, WS_CLOSE_PROTOCOL, "close frame with a 1-byte payload");
        if (len >= 2) {
            int code = ((unsigned char)payload[0] << 8) | (unsigned char)payload[1];
            if (!ws_close_code_valid(code))
                return fail(r, WS_CLOSE_PROTOCOL, "invalid close code");
            if (!utf8_valid(payload + 2, len - 2))
                return fail(r, WS_CLOSE_BAD_DATA, "close reason is not UTF-8");
        }
        fn(ud, WS_OP_CLOSE, payload, len);
        return 0;
    default:
        break;
    }
    if (h->opcode != WS_OP_CONT && h->fin) {
        /* A whole message in one frame: deliver straight from the input buffer. */
        if (h->opcode == WS_OP_TEXT && !utf8_valid(payload, len))
            return fail(r, WS_CLOSE_BAD_DATA, "text message is not UTF-8");
        fn(ud, (enum ws_op)h->opcode, payload, len);
        return 0;
    }
    if (h->opcode != WS_OP_CONT)
        r->msg_op = h->opcode;
    if (strbuf_add(&r->msg, payload, len) < 0)
        return fail(r, WS_CLOSE_TOO_BIG, "message too big");
    if (!h->fin)
        return 0;
    int op = r->msg_op;
    r->msg_op = 0;
    if (op == WS_OP_TEXT && !utf8_valid(r->msg.buf, r->msg.len))
        return fail(r, WS_CLOSE_BAD_DATA, "text message is not UTF-8");
    fn(ud, (enum ws_op)op, r->msg.buf, r->msg.len);
    strbuf_reset(&r->msg);
    return 0;
}

int ws_reader_feed(struct ws_reader *r, const char *data, size_t len, ws_event_fn *fn, void *ud)
{
    if (r->error)
        return r->error;
    if (strbuf_add(&r->in, data, len) < 0)
        return fail(r, WS_CLOSE_TOO_BIG, "frame too big");
    size_t off = 0;
    int rc = 0;
    while (rc == 0) {
        struct ws_frame_header h;
        const uint8_t *p = (const uint8_t *)r->in.buf + off;
        size_t avail = r->in.len - off;
        if (ws_frame_header_parse(p, avail, &h) == 0)
            break;
        rc = check_header(r, &h);
        if (rc)
            return rc;
        if (avail - h.header_len < h.payload_len)
            break;
        char *payload = r->in.buf + off + h.header_len;
        for (uint64_t i = 0; i < h.payload_len; i++)
            payload[i] ^= (char)h.mask[i & 3];
        off += h.header_len + (size_t)h.payload_len;
        rc = deliver(r, &h, payload, fn, ud);
        if (rc)
            return rc;
    }
    if (off > 0) {
        size_t rest = r->in.len - off;
        memmove(r->in.buf, r->in.buf + off, rest);
        strbuf_setlen(&r->in, rest);
    }
    return 0;
}

void ws_frame_encode(struct strbuf *out, enum ws_op op, const void *data, size_t len)
{
    uint8_t hdr[10];
    size_t n = 2;
    hdr[0] = (uint8_t)(0x80 | (op & 0x0f));
    if (len < 126) {
        hdr[1] = (uint8_t)len;
    } else if (len <= 0xffff) {
        hdr[1] = 126;
        hdr[2] = (uint8_t)(len >> 8);
        hdr[3] = (uint8_t)len;
        n = 4;
    } else {
        hdr[1] = 127;
        for (int i = 0; i < 8; i++)
            hdr[2 + i] = (uint8_t)((uint64_t)len >> (56 - 8 * i));
        n = 10;
    }
    strbuf_add(out, hdr, n);
    strbuf_add(out, data, len);
}

void ws_close_encode(struct strbuf *out, int code, const char *reason)
{
    char payload[125];
    payload[0] = (char)((code >> 8) & 0xff);
    payload[1] = (char)(code & 0xff);
    size_t rlen = reason ? strlen(reason) : 0;
    if (rlen > 123) {
        rlen = 123;
        while (rlen > 0 && ((unsigned char)reason[rlen] & 0xC0) == 0x80)
            rlen--; /* do not cut a character in two */
    }
    if (rlen)
        memcpy(payload + 2, reason, rlen);
    ws_frame_encode(out, WS_OP_CLOSE, payload, rlen + 2);
}

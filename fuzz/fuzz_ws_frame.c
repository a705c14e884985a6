/*
 * Fuzz target for the WebSocket frame reader (src/http/ws_proto.c). The input is fed in
 * pieces (sizes taken from the input itself) to a reader with a small message cap: it must
 * never crash, deliver only text that is UTF-8 and messages within the cap, and stop for
 * good after reporting a close code. The input is also sent as one masked client message,
 * which must come back unchanged when it fits.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "http/ws_proto.h"
#include "util/utf8.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_MESSAGE 4096

struct seen {
    int messages;
    struct strbuf last;
    int last_op;
};

static void on_event(void *ud, enum ws_op op, const char *payload, size_t len)
{
    struct seen *s = ud;
    if ((op == WS_OP_TEXT || op == WS_OP_BINARY) && len > MAX_MESSAGE)
        abort();
    if (op == WS_OP_TEXT && !utf8_valid(payload, len))
        abort();
    if ((op == WS_OP_PING || op == WS_OP_PONG || op == WS_OP_CLOSE) && len > 125)
        abort();
    s->messages++;
    s->last_op = op;
    strbuf_reset(&s->last);
    strbuf_add(&s->last, payload, len);
}

static void masked_frame(struct strbuf *out, int first_byte, const uint8_t *data, size_t len)
{
    uint8_t hdr[14];
    size_t n = 0;
    hdr[n++] = (uint8_t)first_byte;
    if (len < 126) {
        hdr[n++] = 0x80 | (uint8_t)len;
    } else if (len <= 0xffff) {
        hdr[n++] = 0x80 | 126;
        hdr[n++] = (uint8_t)(len >> 8);
        hdr[n++] = (uint8_t)len;
    } else {
        hdr[n++] = 0x80 | 127;
        for (int i = 7; i >= 0; i--)
            hdr[n++] = (uint8_t)((uint64_t)len >> (8 * i));
    }
    const uint8_t key[4] = {0xA1, 0x5C, 0x03, 0xFE};
    memcpy(hdr + n, key, 4);
    n += 4;
    strbuf_add(out, hdr, n);
    for (size_t i = 0; i < len; i++)
        strbuf_addch(out, data[i] ^ key[i & 3]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct seen seen = {0, STRBUF_INIT, 0};
    struct ws_reader r;
    ws_reader_init(&r, MAX_MESSAGE);
    size_t off = 0;
    int code = 0;
    for (size_t step = 0; off < size; step++) {
        size_t piece = 1 + (size_t)data[step % size] % 97;
        if (piece > size - off)
            piece = size - off;
        int rc = ws_reader_feed(&r, (const char *)data + off, piece, on_event, &seen);
        if (code && rc != code)
            abort(); /* once broken, stays broken with the same code */
        if (rc && rc != 1002 && rc != 1007 && rc != 1009)
            abort();
        code = rc;
        off += piece;
    }
    ws_reader_release(&r);

    /* Round trip: the input as one binary message, split over two fragments. */
    struct strbuf wire = STRBUF_INIT;
    size_t half = size / 2;
    masked_frame(&wire, 0x02, data, half);
    masked_frame(&wire, 0x80, data + half, size - half);
    ws_reader_init(&r, MAX_MESSAGE);
    seen.messages = 0;
    int rc = ws_reader_feed(&r, wire.buf, wire.len, on_event, &seen);
    if (size <= MAX_MESSAGE) {
        if (rc != 0 || seen.messages != 1 || seen.last_op != WS_OP_BINARY ||
            seen.last.len != size || (size && memcmp(seen.last.buf, data, size) != 0))
            abort();
    } else if (rc != 1009) {
        abort();
    }
    ws_reader_release(&r);
    strbuf_release(&wire);
    strbuf_release(&seen.last);
    return 0;
}

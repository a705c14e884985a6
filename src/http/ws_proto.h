/*
 * WebSocket framing (RFC 6455 section 5), with no I/O: a reader that takes bytes as they
 * arrive and yields whole messages and control frames, enforcing what a server must (client
 * frames masked, no reserved bits or opcodes, control frames short and unfragmented, a cap
 * on message size, UTF-8 text, valid close codes), and an encoder for server frames.
 * Private to src/http/ (ws.c) and fuzz/fuzz_ws_frame.c.
 */
#ifndef RATCHET_HTTP_WS_PROTO_H
#define RATCHET_HTTP_WS_PROTO_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/strbuf.h"

enum ws_op {
    WS_OP_CONT = 0x0,
    WS_OP_TEXT = 0x1,
    WS_OP_BINARY = 0x2,
    WS_OP_CLOSE = 0x8,
    WS_OP_PING = 0x9,
    WS_OP_PONG = 0xA,
};

/* Close codes we send on our own account. */
#define WS_CLOSE_NORMAL     1000
#define WS_CLOSE_GOING_AWAY 1001
#define WS_CLOSE_PROTOCOL   1002
#define WS_CLOSE_NO_STATUS  1005
#define WS_CLOSE_ABNORMAL   1006
#define WS_CLOSE_BAD_DATA   1007
#define WS_CLOSE_POLICY     1008
#define WS_CLOSE_TOO_BIG    1009

struct ws_frame_header {
    bool fin;
    int rsv;
    int opcode;
    bool masked;
    uint8_t mask[4];
    uint64_t payload_len;
    size_t header_len;
};

/* Parses a frame header at buf. Returns 1 with *h filled, 0 if more bytes are needed. */
int ws_frame_header_parse(const uint8_t *buf, size_t len, struct ws_frame_header *h);

/* Called for each whole message (WS_OP_TEXT/BINARY), ping, pong or close frame (payload as
 * sent: a 2-byte code then the reason, already checked). */
typedef void ws_event_fn(void *ud, enum ws_op op, const char *data, size_t len);

struct ws_reader {
    size_t max_message;
    struct strbuf in;  /* bytes not yet parsed (at most one frame) */
    struct strbuf msg; /* fragments of the message being assembled */
    int msg_op;        /* 0 when no fragmented message is open */
    int error;         /* the close code once the peer broke the protocol; input is then
                          ignored */
    char why[96];      /* what was wrong, for the close reason and logs */
};

void ws_reader_init(struct ws_reader *r, size_t max_message);
void ws_reader_release(struct ws_reader *r);
/* Feeds bytes; calls fn for each complete event. Returns 0, or the close code to send
 * (1002 protocol error, 1007 invalid UTF-8, 1009 too big) once the input is invalid. */
int ws_reader_feed(struct ws_reader *r, const char *data, size_t len, ws_event_fn *fn, void *ud);

/* True for a close code a peer may send (1000-1003, 1007-1014, 3000-4999). */
bool ws_close_code_valid(int code);
/* Appends one unmasked, final server frame. */
void ws_frame_encode(struct strbuf *out, enum ws_op op, const void *data, size_t len);
/* Appends a close frame with code and reason (reason cut at 123 bytes on a UTF-8 boundary). */
void ws_close_encode(struct strbuf *out, int code, const char *reason);

#endif

/* UUID v4/v5 and randomness (uuid.h). */
#include "util/uuid.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "util/err.h"
#include "util/timeutil.h"

void random_bytes(void *buf, size_t n)
{
    unsigned char *p = buf;
    while (n > 0) {
        ssize_t got = getrandom(p, n, 0);
        if (got < 0) {
            perror("ratchet: getrandom");
            abort();
        }
        p += got;
        n -= (size_t)got;
    }
}

uint64_t random_u64(void)
{
    uint64_t v;
    random_bytes(&v, sizeof(v));
    return v;
}

static void format_uuid(const unsigned char b[16], char out[UUID_STR_LEN])
{
    snprintf(out, UUID_STR_LEN,
             "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14],
             b[15]);
}

static int parse_uuid(const char *s, unsigned char b[16])
{
    if (!uuid_is_valid(s))
        return -E_INVALID;
    int j = 0;
    for (int i = 0; s[i] && j < 16; i++) {
        if (s[i] == '-')
            continue;
        char hex[3] = {s[i], s[i + 1], 0};
        b[j++] = (unsigned char)strtoul(hex, NULL, 16);
        i++;
    }
    return 0;
}

void uuid_v4(char out[UUID_STR_LEN])
{
    unsigned char b[16];
    random_bytes(b, sizeof(b));
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    format_uuid(b, out);
}

void uuid_v7(char out[UUID_STR_LEN])
{
    unsigned char b[16];
    random_bytes(b, sizeof(b));
    uint64_t ms = (uint64_t)time_now_ms();
    for (int i = 0; i < 6; i++)
        b[i] = (unsigned char)(ms >> (40 - 8 * i));
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x70);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    format_uuid(b, out);
}

int uuid_v5(const char *ns, const char *name, char out[UUID_STR_LEN])
{
    unsigned char nsb[16], digest[EVP_MAX_MD_SIZE];
    if (parse_uuid(ns, nsb) < 0)
        return -E_INVALID;
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha1(), NULL) != 1 ||
        EVP_DigestUpdate(ctx, nsb, sizeof(nsb)) != 1 ||
        EVP_DigestUpdate(ctx, name, strlen(name)) != 1 ||
        EVP_DigestFinal_ex(ctx, digest, NULL) != 1) {
        EVP_MD_CTX_free(ctx);
        return -E_INTERNAL;
    }
    EVP_MD_CTX_free(ctx);
    digest[6] = (unsigned char)((digest[6] & 0x0f) | 0x50);
    digest[8] = (unsigned char)((digest[8] & 0x3f) | 0x80);
    format_uuid(digest, out);
    return 0;
}

bool uuid_is_valid(const char *s)
{
    if (!s || strlen(s) != 36)
        return false;
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return false;
        } else if (!isxdigit((unsigned char)s[i])) {
            return false;
        }
    }
    return true;
}

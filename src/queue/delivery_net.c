/*
 * Where webhooks may go (SSRF rules, docs/delivery.md): a table of special-purpose address
 * blocks, checked on every address curl is about to connect to (so DNS names and redirects
 * are covered, with no window between the check and the connect), plus name-level checks
 * for validation (literal addresses, localhost, the allowed-domain list).
 */
#include <arpa/inet.h>
#include <ctype.h>
#include <curl/curl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "config/config.h"
#include "queue/delivery_internal.h"
#include "util/err.h"
#include "util/xalloc.h"

/* IPv6 blocks; IPv4 addresses are looked up as ::ffff:a.b.c.d. embed >= 0: the block carries
 * an IPv4 address at that byte offset, classified in its place. */
struct block {
    unsigned char net[16];
    int bits;
    enum addr_class cls;
    int embed;
    const char *what;
};

#define V4(a, b, c, d)                                       \
    {                                                        \
        0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, a, b, c, d \
    }
#define V4BITS(n) (96 + (n))

static const struct block blocks[] = {
    /* IPv4 (as mapped addresses) */
    {V4(0, 0, 0, 0), V4BITS(8), ADDR_LOOPBACK, -1, "\"this host\" (0.0.0.0/8)"},
    {V4(127, 0, 0, 0), V4BITS(8), ADDR_LOOPBACK, -1, "loopback"},
    {V4(10, 0, 0, 0), V4BITS(8), ADDR_PRIVATE, -1, "private (10.0.0.0/8)"},
    {V4(172, 16, 0, 0), V4BITS(12), ADDR_PRIVATE, -1, "private (172.16.0.0/12)"},
    {V4(192, 168, 0, 0), V4BITS(16), ADDR_PRIVATE, -1, "private (192.168.0.0/16)"},
    {V4(169, 254, 0, 0), V4BITS(16), ADDR_PRIVATE, -1, "link-local (169.254.0.0/16)"},
    {V4(100, 64, 0, 0), V4BITS(10), ADDR_PRIVATE, -1, "shared address space (100.64.0.0/10)"},
    {V4(192, 0, 0, 0), V4BITS(24), ADDR_PRIVATE, -1, "IETF protocol assignments (192.0.0.0/24)"},
    {V4(198, 18, 0, 0), V4BITS(15), ADDR_PRIVATE, -1, "benchmarking (198.18.0.0/15)"},
    {V4(192, 0, 2, 0), V4BITS(24), ADDR_RESERVED, -1, "documentation (192.0.2.0/24)"},
    {V4(198, 51, 100, 0), V4BITS(24), ADDR_RESERVED, -1, "documentation (198.51.100.0/24)"},
    {V4(203, 0, 113, 0), V4BITS(24), ADDR_RESERVED, -1, "documentation (203.0.113.0/24)"},
    {V4(224, 0, 0, 0), V4BITS(4), ADDR_RESERVED, -1, "multicast (224.0.0.0/4)"},
    {V4(240, 0, 0, 0), V4BITS(4), ADDR_RESERVED, -1, "reserved (240.0.0.0/4)"},
    /* IPv6 */
    {{0}, 128, ADDR_LOOPBACK, -1, "unspecified (::)"},
    {{0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}, 128, ADDR_LOOPBACK, -1, "loopback (::1)"},
    {{0}, 96, ADDR_PUBLIC, 12, "IPv4-compatible (::/96)"},
    {{0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0}, 96, ADDR_PUBLIC, 12, "NAT64 (64:ff9b::/96)"},
    {{0, 0x64, 0xff, 0x9b, 0, 1}, 48, ADDR_PRIVATE, -1, "local NAT64 (64:ff9b:1::/48)"},
    {{0x20, 0x02}, 16, ADDR_PUBLIC, 2, "6to4 (2002::/16)"},
    {{0x20, 0x01, 0, 0}, 32, ADDR_PRIVATE, -1, "Teredo (2001::/32)"},
    {{0x20, 0x01, 0x0d, 0xb8}, 32, ADDR_RESERVED, -1, "documentation (2001:db8::/32)"},
    {{0x01, 0, 0, 0, 0, 0, 0, 0}, 64, ADDR_RESERVED, -1, "discard (100::/64)"},
    {{0xfc}, 7, ADDR_PRIVATE, -1, "unique local (fc00::/7)"},
    {{0xfe, 0x80}, 10, ADDR_PRIVATE, -1, "link-local (fe80::/10)"},
    {{0xfe, 0xc0}, 10, ADDR_PRIVATE, -1, "site-local (fec0::/10)"},
    {{0xff}, 8, ADDR_RESERVED, -1, "multicast (ff00::/8)"},
};

static bool in_block(const unsigned char *a, const struct block *b)
{
    int full = b->bits / 8, rest = b->bits % 8;
    if (memcmp(a, b->net, (size_t)full) != 0)
        return false;
    if (!rest)
        return true;
    unsigned char mask = (unsigned char)(0xff << (8 - rest));
    return (a[full] & mask) == (b->net[full] & mask);
}

/* The most specific block holding a (16 bytes), or NULL (a public address). */
static const struct block *find_block(const unsigned char *a)
{
    const struct block *best = NULL;
    for (size_t i = 0; i < sizeof(blocks) / sizeof(blocks[0]); i++)
        if (in_block(a, &blocks[i]) && (!best || blocks[i].bits > best->bits))
            best = &blocks[i];
    return best;
}

static enum addr_class classify16(const unsigned char *a, const char **what, int depth)
{
    const struct block *b = find_block(a);
    if (!b) {
        *what = "public";
        return ADDR_PUBLIC;
    }
    if (b->embed >= 0 && depth == 0) {
        unsigned char mapped[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        memcpy(mapped + 12, a + b->embed, 4);
        return classify16(mapped, what, 1);
    }
    *what = b->what;
    return b->cls;
}

static enum addr_class classify_sa(const struct sockaddr *sa, const char **what)
{
    unsigned char a[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (sa->sa_family == AF_INET) {
        memcpy(a + 12, &((const struct sockaddr_in *)sa)->sin_addr, 4);
    } else if (sa->sa_family == AF_INET6) {
        memcpy(a, &((const struct sockaddr_in6 *)sa)->sin6_addr, 16);
    } else {
        *what = "not an IP address";
        return ADDR_RESERVED;
    }
    return classify16(a, what, 0);
}

enum addr_class addr_classify(const struct sockaddr *sa)
{
    const char *what = NULL;
    return classify_sa(sa, &what);
}

static bool class_allowed(enum addr_class c, const struct config *cfg)
{
    switch (c) {
    case ADDR_PUBLIC:
        return true;
    case ADDR_LOOPBACK:
        return cfg && cfg->output.allow_localhost_webhooks;
    case ADDR_PRIVATE:
        return cfg && cfg->output.allow_private_network_webhooks;
    case ADDR_RESERVED:
        break;
    }
    return false;
}

static const char *class_hint(enum addr_class c)
{
    switch (c) {
    case ADDR_LOOPBACK:
        return " (set output.allow_localhost_webhooks to allow it)";
    case ADDR_PRIVATE:
        return " (set output.allow_private_network_webhooks to allow it)";
    default:
        return "";
    }
}

static void addr_text(const struct sockaddr *sa, char *buf, size_t size)
{
    if (sa->sa_family == AF_INET)
        inet_ntop(AF_INET, &((const struct sockaddr_in *)sa)->sin_addr, buf, (socklen_t)size);
    else if (sa->sa_family == AF_INET6)
        inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)sa)->sin6_addr, buf, (socklen_t)size);
    else
        snprintf(buf, size, "(family %d)", sa->sa_family);
}

bool addr_allowed(const struct sockaddr *sa, const struct config *cfg, char *why, size_t size)
{
    const char *what = NULL;
    enum addr_class c = classify_sa(sa, &what);
    if (class_allowed(c, cfg))
        return true;
    char text[INET6_ADDRSTRLEN];
    addr_text(sa, text, sizeof(text));
    snprintf(why, size, "refused: %s is a %s address%s", text, what, class_hint(c));
    return false;
}

/* Whether host matches an allowed-domain entry: "example.com" exactly, "*.example.com" or
 * ".example.com" any name below it. */
static bool domain_matches(const char *host, const char *entry)
{
    if (entry[0] == '*' && entry[1] == '.')
        entry++;
    if (entry[0] == '.') {
        size_t hl = strlen(host), el = strlen(entry);
        return hl > el && strcasecmp(host + hl - el, entry) == 0;
    }
    return strcasecmp(host, entry) == 0;
}

int host_check(const char *host_in, const struct config *cfg, struct err *err)
{
    char host[256];
    size_t n = strlen(host_in);
    if (n == 0 || n >= sizeof(host))
        return err_set(err, E_INVALID, "the host name is empty or too long");
    memcpy(host, host_in, n + 1);
    if (host[0] == '[' && host[n - 1] == ']') { /* IPv6 literal */
        memmove(host, host + 1, n - 2);
        host[n - 2] = '\0';
        n -= 2;
    }
    char *pct = strchr(host, '%'); /* zone id */
    if (pct)
        *pct = '\0';
    while (n > 0 && host[n - 1] == '.')
        host[--n] = '\0';
    for (char *p = host; *p; p++)
        *p = (char)tolower((unsigned char)*p);

    const struct config_strlist *allow = cfg ? &cfg->output.allowed_webhook_domains : NULL;
    if (allow && allow->n > 0) {
        bool ok = false;
        for (size_t i = 0; i < allow->n && !ok; i++)
            ok = domain_matches(host, allow->v[i]);
        if (!ok)
            return err_set(err, E_INVALID, "host \"%s\" is not in output.allowed_webhook_domains",
                           host);
    }

    struct sockaddr_storage ss;
    memset(&ss, 0, sizeof(ss));
    struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
    struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
    bool literal = false;
    if (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1) {
        ss.ss_family = AF_INET6;
        literal = true;
    } else if (strspn(host, "0123456789abcdefx.") == strlen(host) &&
               inet_aton(host, &s4->sin_addr) == 1) { /* every IPv4 spelling: 0x7f.1, 2130706433 */
        ss.ss_family = AF_INET;
        literal = true;
    }
    if (literal) {
        char why[256];
        if (!addr_allowed((struct sockaddr *)&ss, cfg, why, sizeof(why)))
            return err_set(err, E_INVALID, "%s", why + strlen("refused: "));
        return 0;
    }
    size_t hl = strlen(host);
    if (strcmp(host, "localhost") == 0 || (hl > 10 && strcmp(host + hl - 10, ".localhost") == 0)) {
        if (!(cfg && cfg->output.allow_localhost_webhooks))
            return err_set(
                err, E_INVALID,
                "%s is a loopback host (set output.allow_localhost_webhooks to allow it)", host);
    }
    return 0;
}

int url_check(const char *url, const struct config *cfg, char **host_out, struct err *err)
{
    if (host_out)
        *host_out = NULL;
    CURLU *u = curl_url();
    char *scheme = NULL, *host = NULL;
    int rc = 0;
    if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
        curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
        (strcasecmp(scheme, "http") != 0 && strcasecmp(scheme, "https") != 0) ||
        curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK || !*host) {
        rc = err_set(err, E_INVALID, "must be an http(s) URL");
        goto out;
    }
    rc = host_check(host, cfg, err);
    if (rc == 0 && host_out)
        *host_out = xstrdup(host);
out:
    curl_free(scheme);
    curl_free(host);
    curl_url_cleanup(u);
    return rc;
}

/*
 * /api/v1/openapi.json (the document, generated once at mount) and /docs, a self-contained
 * page that renders it: docs/page.html and docs/page.js are embedded in the binary with
 * .incbin (the Makefile rebuilds this object when they change); nothing comes from a CDN.
 * The page's Content-Security-Policy allows exactly its one inline script, by hash.
 */
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "api/rest/internal.h"
#include "util/embed.h"
#include "util/err.h"
#include "util/json.h"
#include "util/strbuf.h"
#include "util/xalloc.h"

EMBED(rest_docs_page_html, "src/api/rest/docs/page.html");
EMBED(rest_docs_page_js, "src/api/rest/docs/page.js");

#define SCRIPT_MARK "<!--SCRIPT-->"

void rest_docs_init(struct rest_api *api)
{
    json_t *doc = rest_openapi(NULL);
    api->openapi = json_dumps(doc, JSON_INDENT(1) | JSON_PRESERVE_ORDER);
    api->openapi_len = strlen(api->openapi);
    json_decref(doc);
    unsigned char d[EVP_MAX_MD_SIZE];
    unsigned int n = 0;
    EVP_Digest(rest_docs_page_js, strlen(rest_docs_page_js), d, &n, EVP_sha256(), NULL);
    unsigned char b64[64];
    EVP_EncodeBlock(b64, d, (int)n);
    api->docs_csp = xasprintf("default-src 'none'; script-src 'sha256-%s'; style-src "
                              "'unsafe-inline'; connect-src 'self'; img-src 'self' data:; "
                              "base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
                              (const char *)b64);
}

static int openapi_json(struct http_request *req, void *ud, struct err *err)
{
    struct rest_api *api = ud;
    return http_respond_data(req, 200, "application/json", api->openapi, api->openapi_len);
}

static int docs_page(struct http_request *req, void *ud, struct err *err)
{
    struct rest_api *api = ud;
    const char *mark = strstr(rest_docs_page_html, SCRIPT_MARK);
    if (!mark)
        return err_set(err, E_INTERNAL, "the docs page has no script mark");
    struct strbuf sb = STRBUF_INIT;
    strbuf_add(&sb, rest_docs_page_html, (size_t)(mark - rest_docs_page_html));
    strbuf_adds(&sb, "<script>");
    strbuf_adds(&sb, rest_docs_page_js);
    strbuf_adds(&sb, "</script>");
    strbuf_adds(&sb, mark + strlen(SCRIPT_MARK));
    struct http_response *resp = http_response_new(200);
    http_response_header(resp, "Content-Security-Policy", api->docs_csp);
    http_response_header(resp, "Cache-Control", "no-cache");
    size_t len = 0;
    char *body = strbuf_detach(&sb, &len);
    http_response_body_take(resp, "text/html; charset=utf-8", body, len);
    return http_respond(req, resp);
}

/* Static documents: not rate limited, like the health checks. */
#define DOC_FLAGS HTTP_ROUTE_NO_RATE_LIMIT

static const struct rest_route routes[] = {
    {"/api/v1",
     {HTTP_GET, "/openapi.json", openapi_json, HTTP_ROLE_NONE, DOC_FLAGS, 0},
     "This OpenAPI 3.1 document",
     "docs",
     NULL,
     200,
     NULL,
     false,
     0,
     NULL,
     "application/json",
     0},
    {"",
     {HTTP_GET, "/docs", docs_page, HTTP_ROLE_NONE, DOC_FLAGS, 0},
     "A page that renders this document",
     "docs",
     NULL,
     200,
     NULL,
     false,
     0,
     NULL,
     "text/html",
     0},
};

const struct rest_table rest_docs_table = {routes, REST_N(routes)};

// Checks real answers against the server's own OpenAPI document: finds the operation of a
// method and path, and validates a JSON body against the schema documented for its status.
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';

const DOC_ID = 'https://ratchet.local/openapi.json';

export function openapiChecker(doc) {
  const ajv = new Ajv2020({ strict: false, allErrors: true, validateFormats: true });
  addFormats(ajv);
  ajv.addSchema({ ...doc, $id: DOC_ID });
  const routes = [];
  for (const [tpl, item] of Object.entries(doc.paths)) {
    const re = new RegExp('^' + tpl.replace(/[.*+?^$()|[\]\\]/g, '\\$&').replace(/\\?\{[^}]+\\?\}/g, '[^/]+').replace(/\{[^}]+\}/g, '[^/]+') + '$');
    routes.push({ tpl, re, item, literal: (tpl.match(/\{/g) || []).length });
  }
  // Literal paths first, like the server's router.
  routes.sort((a, b) => a.literal - b.literal);
  const cache = new Map();
  function schemaFor(method, pathname, status) {
    const m = method.toLowerCase() === 'head' ? 'get' : method.toLowerCase();
    const r = routes.find((x) => x.re.test(pathname) && x.item[m]);
    if (!r) return { missing: `no documented operation for ${method} ${pathname}` };
    let resp = r.item[m].responses[String(status)];
    if (!resp) return { missing: `${method} ${r.tpl} documents no ${status} answer` };
    let ref = null;
    if (resp.$ref) {
      ref = resp.$ref;
      resp = doc.components.responses[resp.$ref.split('/').pop()];
    }
    const content = resp.content && (resp.content['application/json']);
    if (!content) return { none: true, op: `${method} ${r.tpl}` };
    const key = `${m} ${r.tpl} ${status}`;
    if (!cache.has(key)) {
      const path = ref ? `${ref}/content/application~1json/schema`
        : `#/paths/${r.tpl.replace(/~/g, '~0').replace(/\//g, '~1')}/${m}/responses/${status}/content/application~1json/schema`;
      cache.set(key, ajv.compile({ $ref: DOC_ID + path }));
    }
    return { validate: cache.get(key), op: `${method} ${r.tpl}` };
  }
  // Returns a list of problems (empty when the body matches).
  return function check(method, pathname, status, body) {
    // The server ignores one trailing slash.
    if (pathname.length > 1 && pathname.endsWith('/')) pathname = pathname.slice(0, -1);
    const s = schemaFor(method, pathname, status);
    if (s.missing) return [s.missing];
    if (s.none) return [];
    if (!s.validate(body)) {
      return s.validate.errors.slice(0, 5).map((e) => `${s.op} ${status}: body${e.instancePath} ${e.message}${e.params && e.params.additionalProperty ? ' (' + e.params.additionalProperty + ')' : ''}`);
    }
    return [];
  };
}

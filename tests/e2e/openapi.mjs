// Checks real answers of the Worker against docs/openapi.yaml. The harness's
// `call` runs every answer of the end-to-end suite through `checkAnswer`, so
// an answer that the file does not describe (an unknown route, a status not
// listed, a body or header of another shape, an error code not allowed for
// its status) fails the test that received it.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import YAML from 'yaml';
import Ajv2020 from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const SPEC_PATH = path.join(root, 'docs', 'openapi.yaml');
export const spec = YAML.parse(fs.readFileSync(SPEC_PATH, 'utf8'));

const ajv = new Ajv2020({ strict: false, allErrors: true });
addFormats(ajv);
ajv.addKeyword('x-codes');
ajv.addSchema(spec, 'openapi', undefined, false);

const METHODS = ['get', 'put', 'post', 'delete', 'patch'];
const routes = Object.keys(spec.paths).map((template) => ({
  template,
  regex: new RegExp(`^${template.replace(/\{[^}]+\}/g, '[^/]+')}$`),
}));

const pointer = (...parts) => `#/${parts.map((p) => String(p).replaceAll('~', '~0').replaceAll('/', '~1')).join('/')}`;
const validators = new Map();
function validatorFor(ref) {
  let v = validators.get(ref);
  if (!v) {
    v = ajv.compile({ $ref: `openapi${ref}` });
    validators.set(ref, v);
  }
  return v;
}

function resolve(obj) {
  let ref = null;
  while (obj?.$ref) {
    ref = obj.$ref;
    obj = ref.split('/').slice(1).reduce((o, k) => o[k.replaceAll('~1', '/').replaceAll('~0', '~')], spec);
  }
  return { obj, ref };
}

/** The route template of `pathname` in the file, or null. */
export function routeOf(pathname) {
  const p = pathname.split('?')[0];
  return routes.find((r) => r.regex.test(p))?.template ?? null;
}

function fail(where, what) {
  throw new Error(`answer not as docs/openapi.yaml says (${where}): ${what}`);
}

function checkError(where, json, codes) {
  const v = validatorFor(pointer('components', 'schemas', 'Error'));
  if (!v(json)) fail(where, `error body ${JSON.stringify(json)}: ${ajv.errorsText(v.errors)}`);
  if (codes && !codes.includes(json.error.code)) fail(where, `code ${json.error.code} is not one of ${codes}`);
}

/**
 * Throws when the answer (`status`, `headers` a fetch `Headers`, `json` the
 * parsed body or null) is not what the file describes for `method pathname`.
 */
export function checkAnswer(method, pathname, status, headers, json) {
  const where = `${method} ${pathname.split('?')[0]} → ${status}`;
  if (!headers.get('x-request-id')) fail(where, 'no x-request-id header');
  const template = routeOf(pathname);
  const m = method.toLowerCase();
  if (!template) {
    // The router's fallback: any path it does not know.
    if (status !== 404 && status !== 429) fail(where, 'no such path in the file');
    checkError(where, json, status === 404 ? ['not_found'] : ['rate_limited']);
    return;
  }
  const item = spec.paths[template];
  if (m === 'options') {
    // CORS preflight: 204 for an allowed origin, 403 `forbidden` otherwise.
    if (status === 204) return;
    checkError(where, json, ['forbidden']);
    return;
  }
  if (!METHODS.includes(m) || !item[m]) {
    if (status !== 405 && status !== 429) fail(where, `method ${method} is not in the file`);
    checkError(where, json, status === 405 ? ['method_not_allowed'] : ['rate_limited']);
    return;
  }
  const op = item[m];
  const key = op.responses[String(status)] ? String(status) : 'default';
  if (!op.responses[key]) fail(where, 'status not listed');
  const { obj: response, ref } = resolve(op.responses[key]);
  for (const [name, h] of Object.entries(response.headers ?? {})) {
    if (resolve(h).obj.required && !headers.get(name)) fail(where, `missing header ${name}`);
  }
  const content = response.content?.['application/json'];
  if (!response.content) {
    if (json !== null) fail(where, `a body where none is described: ${JSON.stringify(json).slice(0, 200)}`);
    return;
  }
  if (!content) return; // binary (CBOR) answers: not JSON, not checked here
  if (!(headers.get('content-type') ?? '').startsWith('application/json')) fail(where, 'not application/json');
  const schemaRef = ref
    ? `${ref}/content/application~1json/schema`
    : pointer('paths', template, m, 'responses', key, 'content', 'application/json', 'schema');
  const v = validatorFor(schemaRef);
  if (!v(json)) fail(where, `${ajv.errorsText(v.errors)} in ${JSON.stringify(json).slice(0, 300)}`);
  if (status >= 400) checkError(where, json, content.schema['x-codes']);
}

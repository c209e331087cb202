#!/usr/bin/env node
// Launcher for @vercel/cosmosdb-server 1.0.1: a Cosmos-compatible in-memory server for the integration tests.
// It reuses the package's account model, router and handlers, but runs its own request pipeline so that it can
// add what the package lacks (keep-alive, an http:// account endpoint, HMAC auth) and work around its bugs.
// See README.md and /work/shared/design/test-server.md.
"use strict";
const crypto = require("crypto");
const fs = require("fs");
const http = require("http");
const https = require("https");
const path = require("path");

const LIB = path.join(__dirname, "node_modules", "@vercel", "cosmosdb-server", "lib");
const Account = require(path.join(LIB, "account")).default;
const route = require(path.join(LIB, "routes")).default;
const jsonModule = require(path.join(LIB, "json"));
const { parsePartitionKey } = require(path.join(LIB, "utils", "get-partition-from-header"));
const H = name => require(path.join(LIB, "handler", name)).default;
const handlers = {
  readDoc: H("read-document"), replaceDoc: H("replace-document"), patchDoc: H("patch-document"),
  deleteDoc: H("delete-document"), createDoc: H("create-document"), upsertDoc: H("upsert-document"),
  queryDocs: H("query-documents"), readDocs: H("read-documents"), batch: H("batch-documents"),
  createDb: H("create-database"), deleteDb: H("delete-database"), createColl: H("create-collection"),
  deleteColl: H("delete-collection"),
};

// Bug (@vercel/cosmosdb-server 1.0.1, lib/account/user-defined-functions.js): UserDefinedFunctions.replace compiles
// the new body into `functions[id]`, then calls Items.replace, which calls this.delete(): the UDF class's own
// delete override, which drops `functions[id]` again. After a replace, or an upsert of an existing UDF (upsert goes
// through replace), queries fail with 400 "udf.<id> is not a function". Compile the stored body once more afterwards.
const UserDefinedFunctions = require(path.join(LIB, "account", "user-defined-functions")).default;
const packageReplaceUdf = UserDefinedFunctions.prototype.replace;
UserDefinedFunctions.prototype.replace = function replace(data) {
  const stored = packageReplaceUdf.call(this, data);
  this.functions[stored.id] = new Function(`"use strict";return (${stored.body})`)(); // the package's define()
  return stored;
};

// Bug: rids are written in plain base64, so a document's rid (and its _self) can contain "/", which splits the link
// azure-cosmos follows for a dict item. The service writes "-" for "/" (and reads it back so); do the same.
const ResourceId = require(path.join(LIB, "account", "resource-id")).default;
ResourceId.toBase64String = buffer => buffer.toString("base64").replace(/\//g, "-");
ResourceId.fromBase64String = s => Buffer.from(s.replace(/-/g, "/"), "base64");

const env = process.env;
const PORT = parseInt(env.PORT || "8081", 10);
const HOST = env.HOST || "127.0.0.1";
const TLS = env.TLS === "1";
const LOG = env.LOG === "1";
const STRICT_AUTH = env.STRICT_AUTH !== "0";
const SESSION_TOKENS = env.SESSION_TOKENS === "1";
const MASTER_KEY = env.MASTER_KEY ||
  "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw==";
const KEY_BYTES = Buffer.from(MASTER_KEY, "base64");
const AAD_TOKEN = env.AAD_TOKEN || "";
const MAX_SKEW_MS = 15 * 60 * 1000;

const NOT_FOUND_DOC = "Entity with the specified id does not exist in the system.";
const NOT_FOUND = "Resource Not Found";
const PK_REQUIRED = "PartitionKey value must be supplied for this operation.";
const PK_MISMATCH = "Partition key provided either doesn't correspond to definition in the collection or doesn't " +
  "match partition key field values specified in the document.";

let account; // created once we know the port
let lsn = 0; // session-token counter (SESSION_TOKENS=1)

// Every handler reads its body through lib/json.js. The launcher reads and parses the body itself (so it can
// inspect it, answer 400 on invalid JSON instead of the package's 500, and rewrite batch bodies), and hands the
// parsed value to the handler through this hook.
const packageJson = jsonModule.default;
jsonModule.default = req => ("cosmosBody" in req ? Promise.resolve(req.cosmosBody) : packageJson(req));

const errorBody = (code, message) => ({ code, message });

// ---------------------------------------------------------------- auth (the package checks nothing)
// resourceType and resourceLink as the SDKs derive them (spec §2.1), from the percent-decoded path.
function resourceOf(pathname) {
  const segs = pathname.replace(/^\/+|\/+$/g, "").split("/").filter(s => s !== "").map(decodeURIComponent);
  if (segs.length === 0) return { type: "", link: "" };
  if (segs[0] === "offers") return { type: "offers", link: segs.length > 1 ? segs[1].toLowerCase() : "" };
  // Delete-by-partition-key is signed as its container (azure-cosmos maps its type "partitionkey" to "colls").
  if (segs.length === 6 && segs[4] === "operations" && segs[5] === "partitionkeydelete") {
    return { type: "colls", link: segs.slice(0, 4).join("/") };
  }
  if (segs.length % 2 === 0) return { type: segs[segs.length - 2], link: segs.join("/") }; // item
  return { type: segs[segs.length - 1], link: segs.slice(0, -1).join("/") }; // feed: parent link
}

function sign(verb, type, link, date, keyBytes = KEY_BYTES) {
  const text = `${verb.toLowerCase()}\n${type.toLowerCase()}\n${link}\n${date.toLowerCase()}\n\n`;
  return { text, sig: crypto.createHmac("sha256", keyBytes).update(text, "utf8").digest("base64") };
}

// Returns undefined when the request may pass, else the 401 message (or, for a resource token, the refusal).
function authError(req, pathname) {
  const date = req.headers["x-ms-date"];
  if (!date) return "Required Header authorization or x-ms-date is missing.";
  const when = Date.parse(date);
  if (!/ GMT$/.test(date) || Number.isNaN(when)) return `The input date header '${date}' is invalid format.`;
  if (Math.abs(Date.now() - when) > MAX_SKEW_MS) {
    return `The input date header '${date}' is more than 15 minutes away from the server time ` +
      `(${new Date().toUTCString()}).`;
  }
  let raw = req.headers.authorization;
  if (!raw) return "Required Header authorization or x-ms-date is missing.";
  try { raw = decodeURIComponent(raw); } catch (e) { /* aad tokens are sent as is; leave garbled ones */ }
  const fields = {};
  for (const part of raw.split("&")) {
    const i = part.indexOf("=");
    if (i > 0) fields[part.slice(0, i)] = part.slice(i + 1);
  }
  if (fields.type === "resource") { // issued by a permission (users.js); a refusal may be a 403
    const { type, link } = resourceOf(pathname);
    return users.resourceTokenError(raw, req, type, link);
  }
  if (fields.type === "aad") {
    return AAD_TOKEN && fields.sig === AAD_TOKEN ? undefined : "The AAD token is not accepted by this test server.";
  }
  if (fields.type !== "master" || !fields.sig) return "The authorization header is invalid or malformed.";
  const { type, link } = resourceOf(pathname);
  const { text, sig } = sign(req.method, type, link, date);
  const b = Buffer.from(fields.sig);
  const matches = s => Buffer.from(s).length === b.length && crypto.timingSafeEqual(Buffer.from(s), b);
  if (matches(sig)) return undefined;
  // A rid-based link (an item's _self, as azure-cosmos follows it) is signed with its last rid, lowercased (spec §2.1).
  if (link.includes("/") && matches(sign(req.method, type, link.split("/").pop().toLowerCase(), date).sig)) {
    return undefined;
  }
  return "The input authorization token can't serve the request. The MAC signature found in the HTTP request is " +
    `not the same as the computed signature. Server used following payload to sign: '${text.replace(/\n/g, "\\n")}'`;
}

// ---------------------------------------------------------------- partition keys
const getAt = (doc, keyPath) => keyPath.slice(1).split("/").reduce((v, k) => (v == null ? undefined : v[k]), doc);
const pkPaths = coll => ((coll && coll.partitionKey && coll.partitionKey.paths) || []).filter(p => p !== "/_partitionKey");

// The header is a JSON array (one value per path of a hierarchical key, a prefix allowed); `{}` = PartitionKey.None.
function pkHeader(req) {
  const raw = req.headers["x-ms-documentdb-partitionkey"];
  if (raw === undefined) return undefined;
  try {
    const v = JSON.parse(raw);
    return Array.isArray(v) ? v : [v];
  } catch (e) {
    return null;
  }
}

function docMatchesPk(doc, paths, values) {
  return values.every((want, i) => {
    if (i >= paths.length) return false;
    const got = getAt(doc, paths[i]);
    if (want !== null && typeof want === "object") return got === undefined; // PartitionKey.None
    return JSON.stringify(got) === JSON.stringify(want);
  });
}

// A view of the collection whose documents are only those of one logical partition. The package's query engine
// and read feed iterate `documents._data`, so continuations, TOP and aggregates are computed inside the partition.
function scopedAccount(coll, paths, values) {
  const docs = Object.create(coll.documents);
  docs._data = new Map([...coll.documents._data].filter(([, item]) => docMatchesPk(item.read(), paths, values)));
  const scoped = Object.create(coll);
  scoped.documents = docs;
  return { database: () => ({ collection: () => scoped }) };
}

// ---------------------------------------------------------------- effective partition keys (EPK)
// The hash the service routes by (aiocosmos/_feeds/epk.py, from the SDKs): MurmurHash3 x64 128 of the component
// "written for hashing" (type byte, then a little-endian double or the UTF-8 bytes and 0xFF), the 16 bytes most
// significant first with the top two bits cleared. A MultiHash (hierarchical) key is one such hash per level.
const M64 = (1n << 64n) - 1n;
const rotl64 = (v, s) => ((v << BigInt(s)) | (v >> BigInt(64 - s))) & M64;
function fmix64(v) {
  v ^= v >> 33n; v = (v * 0xFF51AFD7ED558CCDn) & M64;
  v ^= v >> 33n; v = (v * 0xC4CEB9FE1A85EC53n) & M64;
  return v ^ (v >> 33n);
}
function murmur128(data) {
  const C1 = 0x87C37B91114253D5n, C2 = 0x4CF5AD432745937Fn;
  let h1 = 0n, h2 = 0n;
  const blocks = data.length - (data.length & 15);
  for (let i = 0; i < blocks; i += 16) {
    let k1 = data.readBigUInt64LE(i), k2 = data.readBigUInt64LE(i + 8);
    k1 = (rotl64((k1 * C1) & M64, 31) * C2) & M64; h1 ^= k1;
    h1 = (rotl64(h1, 27) + h2) & M64; h1 = (h1 * 5n + 0x52DCE729n) & M64;
    k2 = (rotl64((k2 * C2) & M64, 33) * C1) & M64; h2 ^= k2;
    h2 = (rotl64(h2, 31) + h1) & M64; h2 = (h2 * 5n + 0x38495AB5n) & M64;
  }
  const tail = Buffer.concat([data.subarray(blocks), Buffer.alloc(16)]);
  const k1 = tail.readBigUInt64LE(0), k2 = tail.readBigUInt64LE(8);
  h2 ^= (rotl64((k2 * C2) & M64, 33) * C1) & M64;
  h1 ^= (rotl64((k1 * C1) & M64, 31) * C2) & M64;
  const n = BigInt(data.length);
  h1 ^= n; h2 ^= n;
  h1 = (h1 + h2) & M64; h2 = (h2 + h1) & M64;
  h1 = fmix64(h1); h2 = fmix64(h2);
  h1 = (h1 + h2) & M64; h2 = (h2 + h1) & M64;
  return [h1, h2];
}
function hashV2(component) {
  let bytes;
  if (component === undefined) bytes = Buffer.from([0x00]);
  else if (component === null) bytes = Buffer.from([0x01]);
  else if (component === false) bytes = Buffer.from([0x02]);
  else if (component === true) bytes = Buffer.from([0x03]);
  else if (typeof component === "number") { bytes = Buffer.alloc(9); bytes[0] = 0x05; bytes.writeDoubleLE(component, 1); }
  else if (typeof component === "string") bytes = Buffer.concat([Buffer.from([0x08]), Buffer.from(component, "utf8"), Buffer.from([0xFF])]);
  else return undefined; // objects and arrays are no key values
  const [low, high] = murmur128(bytes);
  const digest = Buffer.alloc(16);
  digest.writeBigUInt64BE(high, 0); digest.writeBigUInt64BE(low, 8);
  digest[0] &= 0x3F;
  return digest.toString("hex").toUpperCase();
}
// The EPK of a document, for MultiHash and version-2 Hash keys with one path (undefined for anything else).
function documentEpk(doc, definition) {
  const paths = (definition.paths || []).filter(p => p !== "/_partitionKey");
  if (definition.kind === "MultiHash") {
    const parts = paths.map(p => hashV2(getAt(doc, p)));
    return parts.includes(undefined) ? undefined : parts.join("");
  }
  if (definition.version === 2 && paths.length === 1) return hashV2(getAt(doc, paths[0]));
  return undefined;
}

// A view of the collection with only the documents whose EPK is within [start, end).
function epkScopedAccount(coll, definition, start, end) {
  const docs = Object.create(coll.documents);
  docs._data = new Map([...coll.documents._data].filter(([, item]) => {
    const epk = documentEpk(item.read(), definition);
    return epk !== undefined && start <= epk && epk < end;
  }));
  const scoped = Object.create(coll);
  scoped.documents = docs;
  return { database: () => ({ collection: () => scoped }) };
}

// ---------------------------------------------------------------- fixes applied before delegating
// Returns [status, body] to answer directly, or { account } to call the package's handler with.
function prepare(req, params, handler) {
  const { dbId, collId, docId } = params;
  if (dbId !== undefined && !account.database(dbId).read()) return [404, errorBody("NotFound", NOT_FOUND)];
  if (collId === undefined) return { account };
  const coll = account.database(dbId).collection(collId);
  const collData = coll.read();
  // Bug: documents created in (or batched into) a missing collection crash with 500 (`reading '_rid'`).
  if (!collData) return [404, errorBody("NotFound", NOT_FOUND)];
  const paths = pkPaths(collData);
  const pk = pkHeader(req);
  if (pk === null) return [400, errorBody("BadRequest", "The x-ms-documentdb-partitionkey header is not valid JSON.")];
  const hasPk = pk !== undefined && pk.length > 0;

  const pointOps = [handlers.readDoc, handlers.replaceDoc, handlers.patchDoc, handlers.deleteDoc];
  if (docId !== undefined && pointOps.includes(handler)) {
    // Bugs: a missing doc or a wrong pk gives 500 (read dereferences undefined; delete/replace/patch without a pk
    // header fail in parsePartitionKey); nested pk paths and PartitionKey.None never match on read.
    if (paths.length && !hasPk) return [400, errorBody("BadRequest", PK_REQUIRED)];
    if (paths.length && pk.length !== paths.length) return [400, errorBody("BadRequest", PK_MISMATCH)];
    const data = coll.document(docId, hasPk ? parsePartitionKey(JSON.stringify(pk), docId) : docId).read();
    if (!data || data.id !== docId || (hasPk && !docMatchesPk(data, paths, pk))) {
      return [404, errorBody("NotFound", NOT_FOUND_DOC)];
    }
    // Bug: replace looks the document up by the *body* id, so a body id that differs from the URL silently
    // replaces another document.
    const body = req.cosmosBody;
    if (handler === handlers.replaceDoc && body && typeof body === "object" && body.id !== docId) {
      return [400, errorBody("BadRequest", "The id in the request body does not match the id in the URL.")];
    }
    // The existence and pk checks are done; skip read-document's buggy comparison (it reads data[path]).
    if (handler === handlers.readDoc) req.headers["x-ms-documentdb-query-enablecrosspartition"] = "true";
    return { account };
  }
  if ((handler === handlers.createDoc || handler === handlers.upsertDoc) && paths.length) {
    // The package takes the pk from the body and ignores the header (and upsert without it crashes with 500);
    // the service requires the header and rejects a mismatch.
    const body = req.cosmosBody;
    if (!hasPk) return [400, errorBody("BadRequest", PK_REQUIRED)];
    if (pk.length !== paths.length || (body && typeof body === "object" && !docMatchesPk(body, paths, pk))) {
      return [400, errorBody("BadRequest", PK_MISMATCH)];
    }
  }
  if ((handler === handlers.queryDocs || handler === handlers.readDocs) && hasPk && paths.length) {
    // Bug: queries (and the read feed) ignore the pk header and return every partition. Scope the data, and since
    // the request is now partition-scoped, skip the "missing partition keys" refusal.
    req.headers["x-ms-documentdb-query-enablecrosspartition"] = "true";
    return { account: scopedAccount(coll, paths, pk) };
  }
  if ((handler === handlers.queryDocs || handler === handlers.readDocs) && !hasPk && paths.length &&
      req.headers["x-ms-read-key-type"] === "EffectivePartitionKeyRange" && !req.headers["a-im"]) {
    // Missing: EPK-bounded queries (x-ms-start-epk/x-ms-end-epk, e.g. a prefix of a hierarchical key). Scope the
    // data to the documents whose EPK is in the range (the whole key space without the bounds: one range here).
    const definition = collData.partitionKey || {};
    if (definition.kind !== "MultiHash" && definition.version !== 2) {
      return [400, errorBody("BadRequest", "EPK-bounded queries need a MultiHash or version-2 partition key here")];
    }
    const start = (req.headers["x-ms-start-epk"] || "").toUpperCase();
    const end = (req.headers["x-ms-end-epk"] || "FF").toUpperCase();
    req.headers["x-ms-documentdb-query-enablecrosspartition"] = "true";
    return { account: epkScopedAccount(coll, definition, start, end) };
  }
  if (handler === handlers.batch && Array.isArray(req.cosmosBody) && req.headers["x-ms-documentdb-partitionkey"]) {
    // Bug: Read/Delete/Replace ops crash with 500 unless each op has its own partitionKey; the SDKs send it
    // once, in the request header.
    for (const op of req.cosmosBody) {
      if (op && typeof op === "object" && op.partitionKey === undefined) {
        op.partitionKey = req.headers["x-ms-documentdb-partitionkey"];
      }
    }
  }
  return { account };
}

// The package leaves many error bodies thin ({} or {"message":"conflict"}) and its 404 message ends in ",".
function normalizeError(status, body) {
  const defaults = { 400: ["BadRequest", "Bad request"], 404: ["NotFound", NOT_FOUND],
    409: ["Conflict", "Resource with specified id or name already exists."],
    412: ["PreconditionFailed", "Operation cannot be performed because one of the specified precondition is not met."] };
  const d = defaults[status];
  if (!d) return body;
  const out = body && typeof body === "object" && !Array.isArray(body) ? { ...body } : {};
  out.code = out.code || d[0];
  if (!out.message || out.message === "conflict") out.message = d[1];
  if (out.message === `${NOT_FOUND_DOC},`) out.message = NOT_FOUND_DOC;
  return out;
}

// ---------------------------------------------------------------- stored procedures and triggers (scripts.js)
const scripts = require("./scripts")(LIB, { errorBody, pkHeader, pkPaths, docMatchesPk, PK_REQUIRED });
// The trigger operation of a document write ("Create", "Replace", "Delete"), or undefined for other requests.
function writeOperation(handler, params) {
  if (handler === handlers.createDoc) return "Create";
  if (handler === handlers.replaceDoc || handler === handlers.patchDoc) return "Replace";
  if (handler === handlers.deleteDoc) return "Delete";
  if (handler === handlers.upsertDoc) return "Upsert";
  return undefined;
}

// ---------------------------------------------------------------- users and permissions (users.js)
const segmentsDecoded = link => link.split("/").map(s => { try { return decodeURIComponent(s); } catch (e) { return s; } });
const users = require("./users")(LIB, {
  errorBody, toNames: link => segmentsDecoded(ridLinkToNames(`/${link}`).slice(1)).join("/"),
});

// ---------------------------------------------------------------- attachments (attachments.js)
const attachments = require("./attachments")(LIB, { errorBody, pkHeader, pkPaths, docMatchesPk });

// ---------------------------------------------------------------- offers (offers.js)
const offers = require("./offers")(LIB, { errorBody });
// Runs a create or delete of a database or container (`write()` returns [status, body]) with its offers.
async function withOffers(req, params, handler, write) {
  const isCreate = handler === handlers.createDb || handler === handlers.createColl;
  if (isCreate) {
    const refused = offers.checkCreate(req);
    if (refused) return refused;
  }
  const db = params.dbId !== undefined ? account.database(params.dbId) : undefined;
  const before = handler === handlers.deleteDb ? db && db.read()
    : handler === handlers.deleteColl ? db && db.read() && db.collection(params.collId).read() : undefined;
  const [status, body] = await write();
  if (isCreate && status === 201 && body && body._self) {
    offers.created(req, body, handler === handlers.createColl ? db.read() : undefined);
  }
  if (!isCreate && status < 300 && before) offers.deleted(before._self);
  if (handler === handlers.deleteDb && status < 300 && before) users.databaseDeleted(params.dbId);
  return [status, body];
}

// ---------------------------------------------------------------- delete by partition key (the package lacks it)
// POST dbs/{db}/colls/{coll}/operations/partitionkeydelete: every document of the header's logical partition goes.
// The service deletes in the background; here they are gone when the answer (200, no body) is sent.
const PK_DELETE_PATH = /^\/dbs\/([^/]+)\/colls\/([^/]+)\/operations\/partitionkeydelete\/?$/;
function deleteByPartitionKey(req, pathname) {
  const m = PK_DELETE_PATH.exec(pathname);
  if (req.method !== "POST") return [405, errorBody("MethodNotAllowed", "POST only")];
  const db = account.database(decodeURIComponent(m[1]));
  const coll = db.read() && db.collection(decodeURIComponent(m[2]));
  if (!coll || !coll.read()) return [404, errorBody("NotFound", NOT_FOUND)];
  const paths = pkPaths(coll.read());
  const pk = pkHeader(req);
  if (pk === null) return [400, errorBody("BadRequest", "The x-ms-documentdb-partitionkey header is not valid JSON.")];
  if (!paths.length || pk === undefined || pk.length !== paths.length) return [400, errorBody("BadRequest", PK_REQUIRED)];
  const docs = coll.documents;
  for (const item of [...docs._data.values()]) {
    const data = item.read();
    if (data && docMatchesPk(data, paths, pk)) docs.delete(data.id, docs._getPartition(data));
  }
  return [200, undefined];
}

// ---------------------------------------------------------------- request pipeline (replaces lib/index.js)
const readRawBody = req => new Promise((resolve, reject) => {
  const chunks = [];
  req.on("data", c => chunks.push(c)).on("error", reject).on("end", () => resolve(Buffer.concat(chunks)));
});
const readBody = async req => (await readRawBody(req)).toString("utf8");

// The package routes name-based links only; a rid-based one (an item's _self, which azure-cosmos follows for a dict
// item) is rewritten to names before routing, as the service resolves either form.
function ridLinkToNames(url) {
  const [pathname, query] = url.split(/\?(.*)/s);
  const segs = pathname.split("/");
  let changed = false;
  let parent = account;
  const levels = [["dbs", p => p.databases, (p, id) => p.database(id)],
    ["colls", p => p.collections, (p, id) => p.collection(id)], ["docs", p => p.documents, null]];
  for (let i = 1, level = 0; level < levels.length && i + 1 < segs.length && parent; i += 2, level += 1) {
    const [type, children, child] = levels[level];
    if (segs[i] !== type) break;
    let id;
    try { id = decodeURIComponent(segs[i + 1]); } catch (e) { return url; }
    let found = child ? child(parent, id) : undefined;
    if (!(found && found.read())) {
      const byRid = children(parent)._data.get(id);
      const data = byRid && byRid.read();
      if (!data) break;
      segs[i + 1] = encodeURIComponent(data.id);
      changed = true;
      found = byRid;
    }
    parent = found;
  }
  return changed ? segs.join("/") + (query !== undefined ? `?${query}` : "") : url;
}

// What the launcher serves beyond the package's routes (the modules above): which paths, and how the body is read.
// `json(req)`: whether the body is JSON (else it stays raw, as an attachment's media); `allowEmpty`: no body is
// undefined, not a refusal; `noBody`: the body is not read.
const EXTENSIONS = [
  { matches: attachments.isAttachmentPath, json: attachments.isJson,
    handle: (req, p) => attachments.handleAttachments(account, req, p) },
  { matches: users.isUserPath, handle: (req, p) => users.handleUsers(account, req, p) },
  { matches: offers.isOfferPath, handle: (req, p) => offers.handleOffers(req, p) },
  { matches: p => PK_DELETE_PATH.test(p), noBody: true, handle: (req, p) => deleteByPartitionKey(req, p) },
  { matches: scripts.isScriptPath, allowEmpty: true, handle: (req, p) => scripts.handleScripts(account, req, p) },
];

// Reads an extension request's body into req.rawBody and req.cosmosBody; returns [400, body] for invalid JSON.
async function extensionBody(req, extension) {
  req.rawBody = await readRawBody(req);
  if (extension.json && !extension.json(req)) return undefined;
  const text = req.rawBody.toString("utf8");
  if (extension.allowEmpty && text.trim() === "") return undefined;
  try { req.cosmosBody = JSON.parse(text); } catch (e) {
    return [400, errorBody("BadRequest", `The request body is not valid JSON: ${e.message}`)];
  }
  return undefined;
}

async function handle(req, res) {
  const pathname = req.url.split("?")[0];
  if (account) req.url = ridLinkToNames(req.url);
  let status = 200;
  let body;
  let badPath = false;
  try { pathname.split("/").forEach(s => decodeURIComponent(s)); } catch (e) { badPath = true; } // router would throw
  const found = badPath ? undefined : route(req);
  const authMsg = STRICT_AUTH && !badPath ? authError(req, pathname) : undefined;
  const routedPath = req.url.split("?")[0]; // names, not rids
  const extension = !found && !badPath ? EXTENSIONS.find(e => e.matches(routedPath)) : undefined;
  let extraHeaders = {};
  if (authMsg) {
    [status, body] = typeof authMsg === "object" ? [authMsg.status, errorBody(authMsg.code, authMsg.message)]
      : [401, errorBody("Unauthorized", authMsg)];
  } else if (extension) {
    const early = ["POST", "PUT"].includes(req.method) && !extension.noBody ? await extensionBody(req, extension)
      : undefined;
    [status, body, extraHeaders = {}] = early || extension.handle(req, routedPath);
  } else if (!found) {
    [status, body] = [400, errorBody("BadRequest", "no route")]; // offers, sprocs, users, HEAD, ...
  } else {
    const [params, handler] = found;
    let early;
    if (["POST", "PUT", "PATCH"].includes(req.method)) {
      const text = await readBody(req);
      try { req.cosmosBody = JSON.parse(text); } catch (e) {
        early = [400, errorBody("BadRequest", `The request body is not valid JSON: ${e.message}`)];
      }
    }
    const prep = early || prepare(req, params, handler);
    if (Array.isArray(prep)) {
      [status, body] = prep;
    } else {
      try {
        const write = async () => {
          res.statusCode = 200;
          const answer = await handler(prep.account, req, res, params);
          return [res.statusCode, answer];
        };
        const operation = writeOperation(handler, params);
        const resourceWrite = [handlers.createDb, handlers.deleteDb, handlers.createColl, handlers.deleteColl]
          .includes(handler);
        [status, body] = operation ? await scripts.withTriggers(account, req, params, operation, write)
          : resourceWrite ? await withOffers(req, params, handler, write) : await write();
      } catch (err) { // a genuine package crash: keep it visible as a 500
        console.error(err);
        [status, body] = [500, errorBody("InternalServerError", String(err && err.message))];
      }
    }
  }
  body = normalizeError(status, body);
  res.statusCode = status;
  if (body && body._etag) res.setHeader("etag", body._etag);
  res.setHeader("content-type", "application/json");
  res.setHeader("content-location", `${TLS ? "https" : "http"}://${req.headers.host}${req.url}`);
  res.setHeader("x-ms-activity-id", crypto.randomUUID());
  res.setHeader("x-ms-request-charge", "1");
  for (const [name, value] of Object.entries(extraHeaders)) res.setHeader(name, value);
  if (req.headers["x-ms-documentdb-populatequerymetrics"]) {
    res.setHeader("x-ms-documentdb-query-metrics", // a made-up constant, as the package does
      "totalExecutionTimeInMs=0.00;retrievedDocumentCount=0;outputDocumentCount=0");
  }
  if (req.headers["a-im"] && status === 200) { // the package's change-feed stub, unchanged
    if (req.headers["if-none-match"]) res.statusCode = 304;
    res.setHeader("etag", "1");
  }
  if (SESSION_TOKENS && status < 300 && pathname !== "/") {
    const isQuery = req.headers["x-ms-documentdb-isquery"] || req.headers["content-type"] === "application/query+json";
    if (req.method !== "GET" && !isQuery) lsn += 1;
    res.setHeader("x-ms-session-token", `0:1#${lsn}`);
  }
  res.end(status === 204 || res.statusCode === 304 || body === undefined ? undefined : JSON.stringify(body));
  if (LOG) console.error(`${req.method} ${req.url} -> ${res.statusCode}`);
}

// ---------------------------------------------------------------- server, startup, shutdown
const onRequest = (req, res) => handle(req, res).catch(err => {
  console.error(err);
  if (!res.headersSent) res.writeHead(500, { "content-type": "application/json" });
  if (!res.writableEnded) res.end(JSON.stringify(errorBody("InternalServerError", String(err && err.message))));
});
function main() {
  const server = TLS
    ? https.createServer({ // the package's bundled self-signed certificate (expired; clients must not verify)
      cert: fs.readFileSync(path.join(LIB, "..", "cert.pem")), key: fs.readFileSync(path.join(LIB, "..", "key.pem")),
    }, onRequest)
    : http.createServer(onRequest); // Node keeps HTTP/1.1 connections alive; the package's CLI forces `close`
  // Idle sockets outlive the client's pool timeouts (aiohttp: 15 s), so clients do not reuse half-closed sockets.
  server.keepAliveTimeout = 75 * 1000;
  server.headersTimeout = 80 * 1000;
  server.on("error", err => { console.error(err); process.exit(1); });
  server.listen(PORT, HOST, () => {
    const { port } = server.address();
    let host = HOST === "0.0.0.0" || HOST === "::" ? "127.0.0.1" : HOST;
    if (host.includes(":")) host = `[${host}]`;
    const url = `${TLS ? "https" : "http"}://${host}:${port}/`;
    account = new Account(host, port);
    // The package always advertises https://, so SDK endpoint discovery would switch to TLS on an HTTP server.
    const meta = account.read();
    for (const loc of [...meta.writableLocations, ...meta.readableLocations]) loc.databaseAccountEndpoint = url;
    process.stdout.write(`LISTENING ${url.slice(0, -1)}\n`);
  });
  const shutdown = () => {
    setTimeout(() => process.exit(0), 1500).unref();
    server.close(() => process.exit(0));
    server.closeAllConnections(); // idle keep-alive sockets would otherwise hold close() open
  };
  process.on("SIGTERM", shutdown);
  process.on("SIGINT", shutdown);
}

module.exports = { sign, resourceOf }; // require()-able for checking the signing code without a server
if (require.main === module) main();

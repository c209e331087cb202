// Attachments (legacy), which @vercel/cosmosdb-server 1.0.1 lacks, as the service keeps them: under an item,
// dbs/{db}/colls/{coll}/docs/{item}/attachments[/{id}] (create, upsert, read, replace, delete, list, query), in the
// item's logical partition (x-ms-documentdb-partitionkey; 404 when the item is not there). A reference attachment
// is {id, contentType, media (a URL)}; a POST whose Content-Type is not JSON uploads its body as media: the
// attachment (id from Slug, else a new one) gets media "/media/{mediaId}". Reading media back is not served.
"use strict";
const crypto = require("crypto");

module.exports = function attachmentsFor(LIB, { errorBody, pkHeader, pkPaths, docMatchesPk }) {
  const query = require(require.resolve("@zeit/cosmosdb-query", { paths: [LIB] })).default;
  const attachments = new Map(); // `${item key}\n${id}` -> attachment
  const media = new Map(); // mediaId -> { contentType, bytes }
  let next = 0;

  class Refusal extends Error {
    constructor(status, code, message) { super(message); this.status = status; this.code = code; }
  }
  const fail = (status, code, message) => { throw new Refusal(status, code, message); };
  const ts = () => Math.floor(Date.now() / 1000);
  const ridUnder = parentRid => {
    next += 1;
    const own = Buffer.alloc(4);
    own.writeUInt32LE(next, 0);
    return Buffer.concat([Buffer.from(parentRid.replace(/-/g, "/"), "base64"), own]).toString("base64")
      .replace(/\//g, "-");
  };

  const PATH = /^\/dbs\/([^/]+)\/colls\/([^/]+)\/docs\/([^/]+)\/attachments(?:\/([^/]+))?\/?$/;
  const isAttachmentPath = pathname => PATH.test(pathname);
  const isQuery = req => String(req.headers["x-ms-documentdb-isquery"]).toLowerCase() === "true" ||
    req.headers["content-type"] === "application/query+json";
  const isJson = req => /^application\/(json|query\+json)/.test(req.headers["content-type"] || "");

  function itemOf(account, req, dbId, collId, itemId) {
    const db = account.database(dbId);
    const coll = db.read() && db.collection(collId);
    if (!coll || !coll.read()) fail(404, "NotFound", "Resource Not Found");
    const paths = pkPaths(coll.read());
    const pk = pkHeader(req);
    if (pk === null) fail(400, "BadRequest", "The x-ms-documentdb-partitionkey header is not valid JSON.");
    if (paths.length && (pk === undefined || pk.length !== paths.length)) {
      fail(400, "BadRequest", "PartitionKey value must be supplied for this operation.");
    }
    const item = [...coll.documents._data.values()].map(i => i.read())
      .find(d => d && d.id === itemId && (!paths.length || docMatchesPk(d, paths, pk)));
    if (!item) fail(404, "NotFound", "Entity with the specified id does not exist in the system.");
    return { item, key: `${dbId}/${collId}/${JSON.stringify(pk || [])}/${itemId}` };
  }

  function store(itemKey, item, body, old) {
    const r = old ? old._rid : ridUnder(item._rid);
    const attachment = { ...body, _rid: r, _self: `${item._self.replace(/^\/+|\/+$/g, "")}/attachments/${r}/`,
      _etag: `"${crypto.randomUUID()}"`, _ts: ts() };
    attachments.set(`${itemKey}\n${body.id}`, attachment);
    return attachment;
  }

  function checkReference(body) {
    if (!body || typeof body !== "object" || typeof body.id !== "string" || !body.id) {
      fail(400, "BadRequest", "The input content is invalid because the required properties - 'id; ' - are missing");
    }
    for (const key of ["contentType", "media"]) {
      if (typeof body[key] !== "string" || !body[key]) {
        fail(400, "BadRequest", `The input content is invalid because the required properties - '${key}; ' - are missing`);
      }
    }
  }

  function handleAttachments(account, req, pathname) {
    try {
      const [dbId, collId, itemId, attachmentId] = PATH.exec(pathname).slice(1).map(
        s => (s === undefined ? s : decodeURIComponent(s)));
      const { item, key } = itemOf(account, req, dbId, collId, itemId);
      const upsert = String(req.headers["x-ms-documentdb-is-upsert"]).toLowerCase() === "true";
      const mine = () => [...attachments].filter(([k]) => k.startsWith(`${key}\n`)).map(([, a]) => a);
      if (attachmentId === undefined) {
        if (req.method === "GET" || (req.method === "POST" && isQuery(req))) {
          const all = mine();
          const body = req.cosmosBody;
          const result = req.method === "GET" ? all : query(body.query).exec(all, { parameters: body.parameters }).result;
          return [200, { _rid: item._rid, Attachments: result, _count: result.length }];
        }
        if (req.method !== "POST") fail(405, "MethodNotAllowed", `${req.method} is not allowed here`);
        let definition;
        if (isJson(req)) {
          definition = req.cosmosBody;
          checkReference(definition);
        } else { // a media upload: the body is the content
          const mediaId = crypto.randomBytes(12).toString("base64").replace(/\//g, "-");
          media.set(mediaId, { contentType: req.headers["content-type"], bytes: req.rawBody });
          definition = { id: req.headers.slug || crypto.randomUUID(), contentType: req.headers["content-type"],
            media: `/media/${mediaId}` };
        }
        const old = attachments.get(`${key}\n${definition.id}`);
        if (old && !upsert) fail(409, "Conflict", "Resource with specified id or name already exists.");
        return [old ? 200 : 201, store(key, item, definition, old)];
      }
      const old = attachments.get(`${key}\n${attachmentId}`);
      if (!old) fail(404, "NotFound", "Entity with the specified id does not exist in the system.");
      if (req.method === "GET") return [200, old];
      if (req.method === "DELETE") { attachments.delete(`${key}\n${attachmentId}`); return [204, undefined]; }
      if (req.method === "PUT") {
        checkReference(req.cosmosBody);
        if (req.cosmosBody.id !== attachmentId) fail(400, "BadRequest", "The id in the body does not match the URL.");
        return [200, store(key, item, req.cosmosBody, old)];
      }
      fail(405, "MethodNotAllowed", `${req.method} is not allowed here`);
    } catch (err) {
      if (err instanceof Refusal) return [err.status, errorBody(err.code, err.message)];
      throw err;
    }
    return undefined;
  }

  return { handleAttachments, isAttachmentPath, isJson };
};

// Offers (provisioned throughput), which @vercel/cosmosdb-server 1.0.1 lacks, as a provisioned account has them:
// a database created with x-ms-offer-throughput (or x-ms-cosmos-offer-autopilot-settings) gets a shared offer; a
// container gets one from its own header, or 400 RU/s manual when neither it nor its database has throughput (a
// dedicated container's default); a container in a shared-throughput database without a header gets none.
// GET /offers, POST /offers (a query), GET and PUT /offers/{rid}. An offer goes with its resource. The shape follows
// the service's (offerVersion V2, offerType Invalid, content, resource = the resource's _self, offerResourceId).
"use strict";
const crypto = require("crypto");
const path = require("path");

const DEFAULT_CONTAINER_THROUGHPUT = 400;

module.exports = function offersFor(LIB, { errorBody }) {
  const query = require(require.resolve("@zeit/cosmosdb-query", { paths: [LIB] })).default; // the package's engine
  const offers = new Map(); // rid -> offer
  let next = 0;

  const ts = () => Math.floor(Date.now() / 1000);
  const ridOf = () => {
    next += 1;
    const bytes = Buffer.alloc(4);
    bytes.writeUInt32BE(next);
    return bytes.toString("base64").replace(/\//g, "-");
  };

  // The content of an offer for a create's headers, or undefined without them; [status, body] when refused.
  function contentFrom(headers) {
    const manual = headers["x-ms-offer-throughput"];
    const autopilot = headers["x-ms-cosmos-offer-autopilot-settings"];
    if (manual !== undefined) {
      const n = Number(manual);
      if (!Number.isInteger(n) || n < 400 || n % 100) return { refused: "The offer throughput must be at least 400 RU/s, in steps of 100." };
      return { content: { offerThroughput: n, offerIsRUPerMinuteThroughputEnabled: false } };
    }
    if (autopilot !== undefined) {
      let settings;
      try { settings = JSON.parse(autopilot); } catch (e) { return { refused: "The autopilot settings are not valid JSON." }; }
      const max = settings && settings.maxThroughput;
      if (!Number.isInteger(max) || max < 1000 || max % 1000) {
        return { refused: "The autoscale maximum throughput must be at least 1000 RU/s, in steps of 1000." };
      }
      return { content: { offerThroughput: max / 10, offerAutopilotSettings: {
        maxThroughput: max, autoUpgradePolicy: settings.autoUpgradePolicy || { throughputPolicy: { incrementPercent: 0 } } } } };
    }
    return {};
  }

  const byResource = self => [...offers.values()].find(o => o.resource === self);

  function add(resource, content) {
    const rid = ridOf();
    const offer = { offerVersion: "V2", offerType: "Invalid", content, resource: resource._self,
      offerResourceId: resource._rid, id: rid, _rid: rid, _self: `offers/${rid}/`, _etag: `"${crypto.randomUUID()}"`,
      _ts: ts() };
    offers.set(rid, offer);
  }

  // Before a create is handed to the package: [status, body] when its throughput headers are refused.
  function checkCreate(req) {
    const { refused } = contentFrom(req.headers);
    return refused ? [400, errorBody("BadRequest", refused)] : undefined;
  }

  // After a successful create of a database (`database` its body) or a container (`parent` its database's body).
  function created(req, resource, parent) {
    const { content } = contentFrom(req.headers);
    if (content) add(resource, content);
    else if (parent && !byResource(parent._self)) {
      add(resource, { offerThroughput: DEFAULT_CONTAINER_THROUGHPUT, offerIsRUPerMinuteThroughputEnabled: false });
    }
  }

  // After a successful delete: the offers of the resource (and, for a database, of its containers) go.
  function deleted(selfPrefix) {
    for (const [rid, offer] of offers) if (offer.resource.startsWith(selfPrefix)) offers.delete(rid);
  }

  function replace(rid, body) {
    const old = offers.get(rid);
    if (!old) return [404, errorBody("NotFound", "Resource Not Found")];
    const content = body && body.content;
    if (!content || typeof content !== "object") return [400, errorBody("BadRequest", "The offer has no content.")];
    const autopilot = content.offerAutopilotSettings;
    if (Boolean(autopilot) !== Boolean(old.content.offerAutopilotSettings)) {
      return [400, errorBody("BadRequest", "Switching between manual and autoscale throughput is a migration.")];
    }
    if (autopilot) {
      const max = autopilot.maxThroughput;
      if (!Number.isInteger(max) || max < 1000 || max % 1000) {
        return [400, errorBody("BadRequest", "The autoscale maximum throughput must be at least 1000 RU/s, in steps of 1000.")];
      }
    } else if (!Number.isInteger(content.offerThroughput) || content.offerThroughput < 400 || content.offerThroughput % 100) {
      return [400, errorBody("BadRequest", "The offer throughput must be at least 400 RU/s, in steps of 100.")];
    }
    const offer = { ...old, content: { ...content, offerThroughput: autopilot ? autopilot.maxThroughput / 10 :
      content.offerThroughput }, _etag: `"${crypto.randomUUID()}"`, _ts: ts() };
    offers.set(rid, offer);
    return [200, offer];
  }

  const OFFER_PATH = /^\/offers(?:\/([^/]+))?\/?$/;
  const isOfferPath = pathname => OFFER_PATH.test(pathname);

  function handleOffers(req, pathname) {
    const rid = OFFER_PATH.exec(pathname)[1];
    const all = [...offers.values()];
    if (rid === undefined && req.method === "GET") return [200, { _rid: "", Offers: all, _count: all.length }];
    if (rid === undefined && req.method === "POST") {
      const spec = req.cosmosBody;
      if (!spec || typeof spec.query !== "string") return [400, errorBody("BadRequest", "missing query")];
      const { result } = query(spec.query).exec(all, { parameters: spec.parameters });
      return [200, { _rid: "", Offers: result, _count: result.length }];
    }
    const id = rid === undefined ? undefined : decodeURIComponent(rid);
    if (req.method === "GET") {
      const offer = offers.get(id);
      return offer ? [200, offer] : [404, errorBody("NotFound", "Resource Not Found")];
    }
    if (req.method === "PUT") return replace(id, req.cosmosBody);
    return [405, errorBody("MethodNotAllowed", `${req.method} is not allowed on offers`)];
  }

  return { checkCreate, created, deleted, handleOffers, isOfferPath };
};

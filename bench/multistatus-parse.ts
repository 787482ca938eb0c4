// CPU of the multistatus parser alone (scanner + builder) over a synthetic 1000-entry Apache mod_dav
// listing in 16 KiB chunks, in process: deterministic enough to compare parser changes in one session.
// `node --max-semi-space-size=2 --import tsx bench/multistatus-parse.ts` (the semi-space npm start uses).
import { createMultistatusParser } from '../src/backends/webdav-xml.js';
const one = (i: number) => `<D:response xmlns:lp1="DAV:" xmlns:lp2="http://apache.org/dav/props/">
<D:href>/d/file-${String(i).padStart(5, '0')}.bin</D:href>
<D:propstat>
<D:prop>
<lp1:resourcetype/>
<lp1:creationdate>2026-12-04T20:13:50Z</lp1:creationdate>
<lp1:getcontentlength>1092</lp1:getcontentlength>
<lp1:getlastmodified>Fri, 04 Dec 2026 20:13:50 GMT</lp1:getlastmodified>
<lp1:getetag>"444-661d483af83ce"</lp1:getetag>
<D:getcontenttype>application/octet-stream</D:getcontenttype>
</D:prop>
<D:status>HTTP/1.1 200 OK</D:status>
</D:propstat>
</D:response>
`;
let doc = '<?xml version="1.0" encoding="utf-8"?>\n<D:multistatus xmlns:D="DAV:" xmlns:ns0="DAV:">\n';
for (let i = 0; i < 1000; i++) doc += one(i);
doc += '</D:multistatus>\n';
const chunks: string[] = [];
for (let i = 0; i < doc.length; i += 16384) chunks.push(doc.slice(i, i + 16384));
const run = () => { let n = 0; const p = createMultistatusParser(() => { n++; }); for (const c of chunks) p.write(c); p.end(); return n; };
for (let i = 0; i < 200; i++) run();
const t0 = process.cpuUsage();
for (let i = 0; i < 500; i++) run();
const c = process.cpuUsage(t0);
console.log(`parse ${doc.length} bytes: ${((c.user + c.system) / 1000 / 500).toFixed(3)} ms`);

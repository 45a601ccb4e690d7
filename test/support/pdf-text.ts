import { inflateSync } from 'node:zlib';

/**
 * The text a PDF made by pdfkit shows, in drawing order, without a PDF library: each content
 * stream is inflated (FlateDecode), and the strings of its `TJ`/`Tj` operators are decoded from
 * the standard fonts' Windows-1252 codes (pdfkit writes them as hex strings, split where it
 * kerns). One entry per text operator, which for pdfkit is one line of text.
 */
/** Windows-1252's 0x80–0x9F (the rest is Latin-1); Node's TextDecoder may lack the table. */
const CP1252: Record<number, string> = {
  128: '€',
  133: '…',
  145: '‘',
  146: '’',
  147: '“',
  148: '”',
  149: '•',
  150: '–',
  151: '—',
  153: '™',
};

function decodeWinAnsi(bytes: Buffer): string {
  let s = '';
  for (const b of bytes) s += CP1252[b] ?? String.fromCharCode(b);
  return s;
}

export function pdfText(pdf: Uint8Array): string[] {
  const buffer = Buffer.from(pdf);
  const latin = buffer.toString('latin1');
  const out: string[] = [];
  const streamRe = /<<([\s\S]*?)>>\s*stream\r?\n/g;
  for (let m = streamRe.exec(latin); m; m = streamRe.exec(latin)) {
    const start = m.index + m[0].length;
    const end = latin.indexOf('endstream', start);
    let content = buffer.subarray(start, end);
    if (/\/FlateDecode/.test(m[1] ?? '')) {
      try {
        content = inflateSync(content);
      } catch {
        continue; // not a content stream we can read (fonts, images)
      }
    }
    const text = content.toString('latin1');
    const opRe = /\[((?:<[0-9a-fA-F]*>|\([^)]*\)|[-\d.\s])*)\]\s*TJ|<([0-9a-fA-F]*)>\s*Tj/g;
    for (let op = opRe.exec(text); op; op = opRe.exec(text)) {
      const parts =
        op[1] !== undefined ? [...op[1].matchAll(/<([0-9a-fA-F]*)>/g)].map((p) => p[1] ?? '') : [op[2] ?? ''];
      out.push(parts.map((hex) => decodeWinAnsi(Buffer.from(hex, 'hex'))).join(''));
    }
  }
  return out;
}

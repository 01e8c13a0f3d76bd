import { useMemo } from 'react';
import { encode } from 'uqr';
import { qrPath } from './logic';

/** A QR code drawn in the page (the secret never leaves it for an image service). */
export function QrCode({ value, label }: { value: string; label: string }) {
  const qr = useMemo(() => encode(value, { ecc: 'M', border: 2 }), [value]);
  return (
    <svg className="qr" viewBox={`0 0 ${qr.size} ${qr.size}`} width={Math.max(160, qr.size * 4)} height={Math.max(160, qr.size * 4)} role="img" aria-label={label} data-testid="qr-code" data-modules={qr.size} shapeRendering="crispEdges">
      <rect width={qr.size} height={qr.size} fill="#fff" />
      <path d={qrPath(qr.data)} fill="#000" />
    </svg>
  );
}

import { useState } from 'react';

/** A button that asks once more in place ("Confirm …" / "Cancel") before doing something that
 * cannot be undone; no modal dialog, so keyboard and screen-reader users stay where they are. */
export function ConfirmButton({ label, confirm, onConfirm, disabled }: { label: string; confirm: string; onConfirm: () => void; disabled?: boolean }) {
  const [asking, setAsking] = useState(false);
  if (!asking)
    return (
      <button type="button" className="ghost" disabled={disabled} onClick={() => setAsking(true)}>
        {label}
      </button>
    );
  return (
    <span className="confirm" role="group" aria-label={confirm}>
      <button
        type="button"
        className="danger"
        autoFocus
        onClick={() => {
          setAsking(false);
          onConfirm();
        }}
      >
        {confirm}
      </button>
      <button type="button" className="ghost" onClick={() => setAsking(false)}>
        Cancel
      </button>
    </span>
  );
}

/** A secret shown once, selectable, with a copy button. */
export function SecretOnce({ title, secret, note, onDone }: { title: string; secret: string; note: string; onDone: () => void }) {
  const [copied, setCopied] = useState(false);
  return (
    <div className="card secret" role="region" aria-label={title}>
      <h2>{title}</h2>
      <p>{note}</p>
      <div className="actions">
        <input readOnly value={secret} aria-label="Secret" data-testid="secret" onFocus={(e) => e.target.select()} size={Math.min(80, secret.length + 2)} />
        <button
          type="button"
          onClick={() =>
            navigator.clipboard?.writeText(secret).then(
              () => setCopied(true),
              () => setCopied(false),
            )
          }
        >
          {copied ? 'Copied' : 'Copy'}
        </button>
        <button type="button" className="ghost" onClick={onDone}>
          Done, hide it
        </button>
      </div>
    </div>
  );
}

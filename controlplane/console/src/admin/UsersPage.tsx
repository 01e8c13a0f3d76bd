import { useContext, useState, type FormEvent } from 'react';
import type { Role } from '../api/types';
import { problemFields } from '../app/errors';
import { formatTime } from '../app/format';
import { useAsync } from '../app/useAsync';
import { startImpersonation, type Session } from '../auth/session';
import { SessionSwitch } from '../auth/SessionSwitch';
import { navigate } from '../app/router';
import { Link } from '../app/Link';
import { createUser, listUsers, updateUser, type User } from './api';
import { actAsRefusal, bulkPatches, checkNewUser, type BulkChange, type NewUserForm } from './logic';

/** The durations offered for acting as a user (besides the tenant's maximum). */
const ACT_AS_MINUTES = [5, 15, 30, 60];

const ROLES: Role[] = ['viewer', 'editor', 'admin'];

export default function UsersPage({ session }: { session: Session }) {
  const [list, reload] = useAsync((signal) => listUsers(signal), [], true);
  const [query, setQuery] = useState('');
  const [selected, setSelected] = useState<Set<string>>(new Set());
  const shown = list.state === 'done' ? list.value.filter((u) => `${u.username} ${u.email ?? ''}`.toLowerCase().includes(query.toLowerCase())) : [];
  const selectable = shown.filter((u) => u.username !== session.username);
  const toggle = (name: string, on: boolean) =>
    setSelected((s) => {
      const n = new Set(s);
      if (on) n.add(name);
      else n.delete(name);
      return n;
    });
  return (
    <section>
      <header className="page-head">
        <h1>Users</h1>
        <label className="search">
          <span className="sr-only">Search users</span>
          <input type="search" placeholder="Search by name or e-mail" value={query} onChange={(e) => setQuery(e.target.value)} />
        </label>
      </header>
      {list.state === 'loading' && <p role="status">Loading users…</p>}
      {list.state === 'error' && (
        <p className="error" role="alert">
          {list.error.message}
        </p>
      )}
      {list.state === 'done' && (
        <Bulk
          users={list.value}
          selected={selected}
          me={session.username}
          onDone={() => {
            setSelected(new Set());
            reload();
          }}
        />
      )}
      {list.state === 'done' && (
        <table className="list">
          <caption className="sr-only">Users</caption>
          <thead>
            <tr>
              <th scope="col">
                <input
                  type="checkbox"
                  aria-label="Select every user shown"
                  checked={selectable.length > 0 && selectable.every((u) => selected.has(u.username))}
                  onChange={(e) => setSelected(e.target.checked ? new Set(selectable.map((u) => u.username)) : new Set())}
                />
              </th>
              <th scope="col">User</th>
              <th scope="col">Role</th>
              <th scope="col">Status</th>
              <th scope="col">Created</th>
              <th scope="col">Last sign-in</th>
              <th scope="col">Actions</th>
            </tr>
          </thead>
          <tbody>
            {shown.map((u) => (
              <UserRow
                key={u.username}
                user={u}
                session={session}
                self={u.username === session.username}
                onChanged={reload}
                selected={selected.has(u.username)}
                onSelect={(on) => toggle(u.username, on)}
              />
            ))}
          </tbody>
        </table>
      )}
      <CreateUser onCreated={reload} />
    </section>
  );
}

function UserRow({
  user,
  session,
  self,
  onChanged,
  selected,
  onSelect,
}: {
  user: User;
  session: Session;
  self: boolean;
  onChanged: () => void;
  selected: boolean;
  onSelect: (on: boolean) => void;
}) {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const switchTo = useContext(SessionSwitch);
  // How long to act as the user: the tenant's maximum (settings.impersonation.maxMinutes)
  // unless a shorter time is picked; more than the maximum is refused by the server, in the row.
  const [minutes, setMinutes] = useState('');
  // Acting as someone opens their session in this tab (the admin's own comes back on Stop);
  // a refusal of the server (impersonation off for the tenant, the user changed meanwhile)
  // is said in the row.
  const actAs = async () => {
    setBusy(true);
    setError(null);
    try {
      const s = await startImpersonation(session, user.username, minutes ? Number(minutes) : undefined);
      navigate('/dashboards');
      switchTo(s);
    } catch (e) {
      setError((e as Error).message);
      setBusy(false);
    }
  };
  const change = async (patch: { role?: Role; disabled?: boolean }) => {
    setBusy(true);
    setError(null);
    try {
      await updateUser(user, patch);
      onChanged();
    } catch (e) {
      setError((e as Error).message);
    } finally {
      setBusy(false);
    }
  };
  return (
    <tr data-user={user.username}>
      <td>{!self && <input type="checkbox" aria-label={`Select ${user.username}`} checked={selected} onChange={(e) => onSelect(e.target.checked)} />}</td>
      <th scope="row">
        {user.username}
        {self && <span className="badge">you</span>}
        {user.email && <div className="muted">{user.email}</div>}
      </th>
      <td>
        <label>
          <span className="sr-only">Role of {user.username}</span>
          <select value={user.role} disabled={busy || self} onChange={(e) => change({ role: e.target.value as Role })}>
            {ROLES.map((r) => (
              <option key={r} value={r}>
                {r}
              </option>
            ))}
          </select>
        </label>
      </td>
      <td>{user.disabled ? <span className="error">disabled</span> : <span className="ok">active</span>}</td>
      <td>{formatTime(user.createdAt)}</td>
      <td>{user.lastLoginAt ? formatTime(user.lastLoginAt) : <span className="muted">never</span>}</td>
      <td>
        <div className="actions">
          <Link href={`/admin/audit?actor=${encodeURIComponent(user.username)}`}>
            Activity <span className="sr-only">of {user.username}</span>
          </Link>
          {!self && (
            <button type="button" className="ghost" disabled={busy} onClick={() => change({ disabled: !user.disabled })}>
              {user.disabled ? `Enable ${user.username}` : `Disable ${user.username}`}
            </button>
          )}
          {!actAsRefusal(user, session.username) && (
            <>
              <label>
                <span className="sr-only">Act as {user.username} for</span>
                <select value={minutes} disabled={busy} onChange={(e) => setMinutes(e.target.value)}>
                  <option value="">the longest allowed</option>
                  {ACT_AS_MINUTES.map((m) => (
                    <option key={m} value={String(m)}>
                      {m} minutes
                    </option>
                  ))}
                </select>
              </label>
              <button type="button" className="ghost" disabled={busy} onClick={actAs}>
                Act as {user.username}
              </button>
            </>
          )}
          {error && (
            <span className="error" role="alert">
              {error}
            </span>
          )}
        </div>
      </td>
    </tr>
  );
}

/** Changes every selected user (one request each), then says what happened. */
function Bulk({ users, selected, me, onDone }: { users: User[]; selected: Set<string>; me: string; onDone: () => void }) {
  const [role, setRole] = useState<Role>('viewer');
  const [busy, setBusy] = useState(false);
  const [msg, setMsg] = useState<{ ok: boolean; text: string } | null>(null);
  const apply = async (change: BulkChange) => {
    const todo = bulkPatches(users, selected, change, me);
    setBusy(true);
    const failed: string[] = [];
    for (const { user, patch } of todo) {
      try {
        await updateUser(user, patch);
      } catch (e) {
        failed.push(`${user.username}: ${(e as Error).message}`);
      }
    }
    setBusy(false);
    const done = todo.length - failed.length;
    setMsg({ ok: failed.length === 0, text: `${done} of ${todo.length} users changed${failed.length ? `; ${failed.join('; ')}` : '.'}` });
    onDone();
  };
  const none = selected.size === 0 || busy;
  return (
    <div className="toolbar" role="group" aria-label="Change the selected users">
      <span>{selected.size} selected</span>
      <button type="button" className="ghost" disabled={none} onClick={() => apply({ disabled: true })}>
        Disable selected
      </button>
      <button type="button" className="ghost" disabled={none} onClick={() => apply({ disabled: false })}>
        Enable selected
      </button>
      <label className="inline">
        <span className="sr-only">Role for the selected users</span>
        <select value={role} onChange={(e) => setRole(e.target.value as Role)} disabled={none}>
          {ROLES.map((r) => (
            <option key={r} value={r}>
              {r}
            </option>
          ))}
        </select>
      </label>
      <button type="button" className="ghost" disabled={none} onClick={() => apply({ role })}>
        Set role of selected
      </button>
      {msg && (
        <span role={msg.ok ? 'status' : 'alert'} className={msg.ok ? 'ok' : 'error'}>
          {msg.text}
        </span>
      )}
    </div>
  );
}

const EMPTY: NewUserForm = { username: '', email: '', role: 'viewer', password: '' };

function CreateUser({ onCreated }: { onCreated: () => void }) {
  const [form, setForm] = useState<NewUserForm>(EMPTY);
  const [errors, setErrors] = useState<Record<string, string>>({});
  const [message, setMessage] = useState<{ ok: boolean; text: string } | null>(null);
  const submit = async (e: FormEvent) => {
    e.preventDefault();
    setMessage(null);
    // The server knows the tenant's minimum length; the form checks only the plain rules.
    const local = checkNewUser(form, 1);
    setErrors(local);
    if (Object.keys(local).length) return;
    try {
      const u = await createUser({ username: form.username.trim(), email: form.email.trim() || undefined, role: form.role, password: form.password });
      setMessage({ ok: true, text: `Created ${u.username} (${u.role}).` });
      setForm(EMPTY);
      onCreated();
    } catch (err) {
      const { fields, message } = problemFields(err, ['username', 'email', 'password', 'role']);
      setErrors(fields);
      if (message) setMessage({ ok: false, text: message });
    }
  };
  const field = (k: 'username' | 'email' | 'password', label: string, type = 'text') => (
    <label>
      {label}
      <input
        type={type}
        value={form[k]}
        onChange={(e) => setForm({ ...form, [k]: e.target.value })}
        aria-invalid={!!errors[k]}
        aria-describedby={errors[k] ? `user-err-${k}` : undefined}
        autoComplete={type === 'password' ? 'new-password' : 'off'}
      />
      {errors[k] && (
        <span id={`user-err-${k}`} className="error">
          {errors[k]}
        </span>
      )}
    </label>
  );
  return (
    <form className="card create-form" onSubmit={submit} aria-labelledby="new-user">
      <h2 id="new-user">New user</h2>
      <div className="form-grid">
        {field('username', 'Username')}
        {field('email', 'E-mail')}
        <label>
          Role
          <select value={form.role} onChange={(e) => setForm({ ...form, role: e.target.value as Role })}>
            {ROLES.map((r) => (
              <option key={r} value={r}>
                {r}
              </option>
            ))}
          </select>
        </label>
        {field('password', 'Initial password', 'password')}
      </div>
      <button type="submit">Create user</button>
      {message && (
        <p role={message.ok ? 'status' : 'alert'} className={message.ok ? 'ok' : 'error'}>
          {message.text}
        </p>
      )}
    </form>
  );
}

import { useState, type FormEvent } from 'react';
import type { Role } from '../api/types';
import { problemFields } from '../app/errors';
import { formatTime } from '../app/format';
import { useAsync } from '../app/useAsync';
import type { Session } from '../auth/session';
import { createUser, listUsers, updateUser, type User } from './api';
import { checkNewUser, type NewUserForm } from './logic';

const ROLES: Role[] = ['viewer', 'editor', 'admin'];

export default function UsersPage({ session }: { session: Session }) {
  const [list, reload] = useAsync((signal) => listUsers(signal), [], true);
  const [query, setQuery] = useState('');
  const shown = list.state === 'done' ? list.value.filter((u) => `${u.username} ${u.email ?? ''}`.toLowerCase().includes(query.toLowerCase())) : [];
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
        <table className="list">
          <caption className="sr-only">Users</caption>
          <thead>
            <tr>
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
              <UserRow key={u.username} user={u} self={u.username === session.username} onChanged={reload} />
            ))}
          </tbody>
        </table>
      )}
      <CreateUser onCreated={reload} />
    </section>
  );
}

function UserRow({ user, self, onChanged }: { user: User; self: boolean; onChanged: () => void }) {
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
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
          {!self && (
            <button type="button" className="ghost" disabled={busy} onClick={() => change({ disabled: !user.disabled })}>
              {user.disabled ? `Enable ${user.username}` : `Disable ${user.username}`}
            </button>
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

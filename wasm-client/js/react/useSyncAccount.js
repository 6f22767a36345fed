import { useSyncStore } from './context.js';

/**
 * The account: `user` (`{userId, email}` or null), `signIn(email,
 * password)`, `register(email, password)` and `signOut(options?)`.
 * Signing in starts sync at once (no reload); the logged-out data of this
 * device goes into the first account ever signed in here, once. Signing
 * out erases the account's copy from this device and the app goes on
 * logged out; `signOut({ keepLocalCopy: true })` keeps it as local data.
 * Failures reject and are in `useSyncStatus().lastError`.
 *
 * @example
 * function SignInForm() {
 *   const { user, signIn, register, signOut } = useSyncAccount();
 *   const [email, setEmail] = useState('');
 *   const [password, setPassword] = useState('');
 *   if (user) return <button onClick={() => signOut()}>Sign out {user.email}</button>;
 *   return (
 *     <form onSubmit={(e) => { e.preventDefault(); signIn(email, password).catch(() => {}); }}>
 *       <input value={email} onChange={(e) => setEmail(e.target.value)} />
 *       <input type="password" value={password} onChange={(e) => setPassword(e.target.value)} />
 *       <button>Sign in</button>
 *       <button type="button" onClick={() => register(email, password).catch(() => {})}>Register</button>
 *     </form>
 *   );
 * }
 */
export function useSyncAccount() {
  const store = useSyncStore();
  return {
    user: store.user,
    signIn: (email, password) => store.signIn(email, password),
    register: (email, password) => store.register(email, password),
    signOut: (options) => store.signOut(options),
  };
}

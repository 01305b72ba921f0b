// mfad web front end: a small single-page app on the public API.
//
// Every call goes to /api/1.0 with the session in the X-Auth-Token header.
// The session id lives in sessionStorage only (one tab, gone when it closes)
// and never in a URL: the hash holds only the page name (#/security,
// #/users, #/activity). The one exception is the link of a password-reset
// mail, #reset=<id>: the page takes the id into memory and replaces the
// address with #/reset at once, so the id stays neither in the address bar
// nor in the history. Text from the server is always set with textContent,
// never as HTML.
//
// Forward auth: once a sign-in is complete the page has the server set the
// session as an HttpOnly cookie (POST /auth/cookie), which a reverse proxy
// checks for the apps behind it and which a new tab of this page takes the
// session from (GET /auth/cookie). A proxy sends an unsigned browser here
// with ?rd=<the app's URL>; after the last factor the page goes back there,
// to the URL the server checked (never one off the cookie domain).
'use strict';

(function () {
  const API = '/api/1.0';
  const KEY_TOKEN = 'mfad.token';
  const KEY_STEP = 'mfad.step'; // '' for a full session, else the Mfa-Code owed
  const KEY_METHODS = 'mfad.methods'; // the Mfa-Methods of the step owed: what may answer it
  const KEY_BOUNCE = 'mfad.bounce'; // the last automatic return: {to, at}
  const BOUNCE_MS = 10000; // a second automatic return to the same URL this soon is a loop

  const $ = (id) => document.getElementById(id);

  let profile = null; // the signed-in user's profile (memory only)
  let enrollMode = 'profile'; // 'login' (Mfa-Code 3) or 'profile' (security page)
  let flash = null; // the message the next view shows: {text, kind}
  let renderSeq = 0; // drops the results of superseded renders
  let resetId = ''; // the id of the open password-reset link (memory only)
  let users = new Map(); // the users page's users by id
  let enrollTimer = 0; // the countdown of the enrollment page
  let recoveryCodes = []; // the codes just made, shown once (memory only)
  let returnTo = new URLSearchParams(location.search).get('rd') || ''; // where a proxy sent the browser from
  let resumeTried = false; // the cookie is asked for a session once per load
  let passkeys = []; // the signed-in user's passkeys (the security page)
  let renameId = ''; // the passkey the rename form names
  let twoFAView = 'totp'; // the view of the 2FA step owed: 'totp' (Mfa-Code 1) or 'passkey' (4)

  // ---- session state

  function session() {
    return {
      token: sessionStorage.getItem(KEY_TOKEN) || '',
      step: sessionStorage.getItem(KEY_STEP) || '',
    };
  }

  function saveSession(token, step, methods) {
    sessionStorage.setItem(KEY_TOKEN, token);
    sessionStorage.setItem(KEY_STEP, step || '');
    sessionStorage.setItem(KEY_METHODS, (step && methods) || '');
  }

  function clearSession() {
    sessionStorage.removeItem(KEY_TOKEN);
    sessionStorage.removeItem(KEY_STEP);
    sessionStorage.removeItem(KEY_METHODS);
    profile = null;
    passkeys = [];
  }

  // stepMethods are the auth_types that may answer the step owed, from
  // the server's Mfa-Methods header (empty when it sent none).
  function stepMethods() {
    return (sessionStorage.getItem(KEY_METHODS) || '').split(',').map((m) => m.trim()).filter((m) => m !== '');
  }

  // ---- the API

  class ApiError extends Error {
    constructor(status, code, msg, retryAfter, details) {
      super(msg);
      this.status = status;
      this.code = code;
      this.retryAfter = retryAfter;
      this.details = details || {};
    }
  }

  // base64 of the UTF-8 bytes of s (btoa alone takes only Latin-1).
  function base64(s) {
    const bytes = new TextEncoder().encode(s);
    let bin = '';
    for (let i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin);
  }

  // api calls the API. It resolves with {status, data, mfaCode, methods} for a 2xx
  // answer and rejects with an ApiError otherwise (code -1 when the answer
  // is not an ErrorModel, status 0 when the server cannot be reached).
  async function api(method, path, opts) {
    opts = opts || {};
    const headers = Object.assign({ Accept: 'application/json' }, opts.headers || {});
    if (opts.basic) {
      headers.Authorization = 'Basic ' + base64(opts.basic[0] + ':' + opts.basic[1]);
    } else {
      const tok = session().token;
      if (tok) headers['X-Auth-Token'] = tok;
    }
    let body;
    if (opts.body !== undefined) {
      headers['Content-Type'] = 'application/json';
      body = JSON.stringify(opts.body);
    }
    let res;
    try {
      res = await fetch(API + path, {
        method: method,
        headers: headers,
        body: body,
        cache: 'no-store',
        credentials: opts.cookie ? 'same-origin' : 'omit',
        redirect: 'error',
        referrerPolicy: 'no-referrer',
      });
    } catch (e) {
      throw new ApiError(0, -1, 'network error', 0);
    }
    let data = null;
    const text = await res.text();
    if (text) {
      try { data = JSON.parse(text); } catch (e) { data = null; }
    }
    if (res.ok) {
      return { status: res.status, data: data, mfaCode: res.headers.get('Mfa-Code') || '', methods: res.headers.get('Mfa-Methods') || '' };
    }
    const code = data && typeof data.code === 'number' ? data.code : -1;
    const msg = data && typeof data.msg === 'string' ? data.msg : res.statusText;
    const details = data && data.details && typeof data.details === 'object' ? data.details : {};
    const retry = parseInt(res.headers.get('Retry-After') || '0', 10);
    throw new ApiError(res.status, code, msg, isNaN(retry) ? 0 : retry, details);
  }

  // ---- messages

  function plural(n, word) {
    return n + ' ' + word + (n === 1 ? '' : 's');
  }

  function minutes(seconds) {
    return plural(Math.max(1, Math.ceil(seconds / 60)), 'minute');
  }

  function lockedText(seconds) {
    return 'Too many attempts: signing in is locked for now. Try again in ' + minutes(seconds) + '.';
  }

  // errorText turns an API error into a sentence for people. ctx says what
  // was being done: 'signin', 'totp', 'recovery', 'pin', 'enroll',
  // 'profile-pin', 'remove', 'users', 'users-pin', 'create', 'settings',
  // 'load', 'password' (change or reset), 'forgot', 'edit', 'recovery-make',
  // 'passkey' (signing in with one), 'passkey-add', 'passkey-rename',
  // 'passkey-delete'.
  // A refused password (code 2, msg "password: ...") is said as such
  // wherever it happens.
  function errorText(err, ctx) {
    if (err.status === 0) return 'Cannot reach the server. Check your connection and try again.';
    switch (err.code) {
      case 0: return 'The server had an internal error. Try again later.';
      case 1: return 'The request was malformed: ' + err.message + '.';
      case 2:
        if (ctx === 'profile-pin' || ctx === 'users-pin') return 'A PIN must be 4 to 12 digits.';
        if (ctx === 'totp' || ctx === 'enroll') return 'Enter the 6-digit code from your authenticator app.';
        if (ctx === 'pin') return 'Enter your PIN: 4 to 12 digits.';
        if ((ctx === 'passkey-add' || ctx === 'passkey-rename') && err.message.startsWith('name: ')) return 'A passkey\u2019s name is 1 to 64 characters, without control characters.';
        if (err.message.startsWith('password: ')) return 'The password is refused: ' + err.message.slice(10) + '.';
        return 'Please check the form: ' + err.message + '.';
      case 3: return 'The request is too large.';
      case 4: case 5: case 6: return 'The request was refused (' + err.message + ').';
      case 10: return 'Your session has expired or was closed. Please sign in again.';
      case 11: return 'Wrong email or password.';
      case 12: return 'A second factor is required: finish signing in first.';
      case 13: {
        let text;
        if (ctx === 'pin') {
          text = 'Wrong PIN. Check it and try again.';
        } else if (ctx === 'passkey') {
          text = 'Your passkey was not accepted: it is not a passkey of this account, it answered too late, or it looks like a copy of one (its signature counter went back).';
        } else if (ctx === 'recovery') {
          text = 'That recovery code is wrong or was used already. Check it, or try another of your codes.';
        } else if (err.details.code_used || /already used/.test(err.message)) {
          text = 'This code was already used. Wait for the next code in your authenticator app (a new one appears every 30 seconds), then enter it.';
        } else {
          text = 'Wrong code. Enter the code your authenticator app shows now for mfad.';
        }
        if (err.details.locked_seconds) {
          text += ' Too many wrong attempts: signing in with this email is now locked for ' + minutes(err.details.locked_seconds) + '.';
        } else if (err.details.session_closed) {
          text += ' That was the last try for this sign-in: sign in again.';
        }
        return text;
      }
      case 14: return 'Administrator rights are required for this.';
      case 15: return lockedText(err.retryAfter);
      case 16: return 'The server is busy. Try again in a few seconds.';
      case 17: return 'The service is unavailable right now (database unreachable). Try again in a few seconds.';
      case 20: return 'This sign-in step expected a different factor. Please sign in again.';
      case 21:
        if (ctx === 'enroll' && enrollMode === 'profile') {
          return 'Enrollment failed: the code does not match the new secret, or the secret expired (it lives 15 minutes). Check the code, or get a new secret and add it to your app again.';
        }
        return 'Enrollment failed: the secret expired or was never made (secrets live 15 minutes). Get a new secret and add it to your app again.';
      case 22:
        return 'This factor is forced by an administrator (or by the account) and cannot be removed.';
      case 23: return 'One or more selected users are not users of your account. Nothing was changed.';
      case 24: return 'That email is already taken by another user.';
      case 25: return 'User not found.';
      case 26: return 'You cannot delete, disable or take administrator rights from your own user.';
      case 27: return 'Your current password is wrong. (Failed attempts count towards a lockout.)';
      case 28: return 'Password reset by mail is not set up on this server. An administrator can set a new password for you.';
      case 29: return 'This reset link is unknown, used, replaced by a newer one or expired. Ask for a new one below.';
      case 30: return 'Passkeys are off on this server: it has no public URL set. An administrator can turn them on (mfad serve --public-url).';
      case 31: return 'The passkey was not added: ' + err.message + '.';
      case 32: return 'That passkey no longer exists: it was deleted meanwhile.';
    }
    if (err.status === 429) return lockedText(err.retryAfter);
    if (err.status === 503) return 'The service is busy or unavailable. Try again in a few seconds.';
    if (err.status >= 500) return 'The server had an error. Try again later.';
    return 'The request failed: ' + (err.message || ('status ' + err.status)) + '.';
  }

  // showMsg shows text in the message box: at the top of the page, or
  // right before near (the form the message is about), so that it is seen
  // where the person is looking. Its kind (error, ok, info) shows as an
  // icon and a border, and is spoken to screen readers.
  function showMsg(text, kind, near) {
    const box = $('msg');
    if (!text) {
      box.textContent = '';
      box.hidden = true;
      return;
    }
    kind = kind || 'info';
    const where = near || $('main').querySelector('.view:not([hidden])');
    if (where && where.classList.contains('view')) {
      where.prepend(box); // above the heading: the top of the page
    } else if (where) {
      where.before(box);
    }
    box.className = 'msg ' + kind;
    box.textContent = '';
    const spoken = document.createElement('span');
    spoken.className = 'vh';
    spoken.textContent = kind === 'error' ? 'Error: ' : kind === 'ok' ? 'Done: ' : 'Note: ';
    const shown = document.createElement('span');
    shown.className = 'msg-text';
    shown.textContent = text;
    box.append(spoken, shown);
    box.hidden = false;
    // Bring the box into sight (focus stays where it was).
    const r = box.getBoundingClientRect();
    if (r.top < 0 || r.bottom > window.innerHeight) box.scrollIntoView({ block: 'nearest' });
  }

  // fail shows err next to near. A closed or expired session (401 code 10),
  // a limited session where a full one is needed (code 12), a wrong step
  // (code 20) or a wrong code that ended the sign-in attempt end the
  // session and go back to sign-in.
  function fail(err, ctx, near) {
    const ended = err.code === 13 && err.details.session_closed;
    if (err.code === 10 || err.code === 12 || err.code === 20 || ended) {
      const wasLimited = session().step !== '';
      clearSession();
      let text;
      if (err.code === 20 || ended) {
        text = errorText(err, ctx);
      } else if (wasLimited) {
        text = 'Your sign-in attempt has expired (it lasts 5 minutes, 15 while setting up 2FA, and ends after too many wrong codes). Please sign in again.';
      } else {
        text = 'Your session has expired or was closed. Please sign in again.';
      }
      go('#/', text, 'error');
      return;
    }
    showMsg(errorText(err, ctx), 'error', near);
  }

  // busy disables a form's buttons while a request runs, so a double
  // submission does not burn a second code.
  async function busy(el, fn) {
    const buttons = el.tagName === 'BUTTON' ? [el] : Array.from(el.querySelectorAll('button'));
    buttons.forEach((b) => { b.disabled = true; });
    try {
      await fn();
    } finally {
      buttons.forEach((b) => { b.disabled = false; });
    }
  }

  // confirmDialog asks before a change that removes or deletes something.
  // With pin set, it also asks for a PIN. It resolves with false when
  // cancelled, else true (or the PIN typed).
  function confirmDialog(title, text, okLabel, pin) {
    const dlg = $('confirm');
    $('confirm-title').textContent = title;
    $('confirm-text').textContent = text;
    $('confirm-ok').textContent = okLabel;
    $('confirm-ok').className = pin ? '' : 'danger';
    $('confirm-pin-field').hidden = !pin;
    $('confirm-pin').value = '';
    $('confirm-error').hidden = true;
    return new Promise((resolve) => {
      const onSubmit = (ev) => {
        const ok = ev.submitter && ev.submitter.value === 'ok';
        if (ok && pin) {
          const v = codeValue('confirm-pin');
          if (!/^[0-9]{4,12}$/.test(v)) {
            ev.preventDefault(); // stays open
            $('confirm-error').textContent = 'A PIN must be 4 to 12 digits.';
            $('confirm-error').hidden = false;
            $('confirm-pin').focus();
            return;
          }
        }
        dlg.removeEventListener('submit', onSubmit);
        dlg.removeEventListener('cancel', onCancel);
        resolve(ok ? (pin ? codeValue('confirm-pin') : true) : false);
      };
      const onCancel = () => {
        dlg.removeEventListener('submit', onSubmit);
        dlg.removeEventListener('cancel', onCancel);
        resolve(false);
      };
      dlg.addEventListener('submit', onSubmit);
      dlg.addEventListener('cancel', onCancel);
      dlg.showModal();
      (pin ? $('confirm-pin') : $('confirm-cancel')).focus();
    });
  }

  // ---- views

  const TITLES = {
    signin: 'Sign in',
    totp: 'Authentication code',
    pin: 'PIN',
    passkey: 'Passkey',
    enroll: 'Set up two-factor authentication',
    security: 'Security',
    users: 'Users',
    activity: 'Activity',
    forgot: 'Reset your password',
    reset: 'Set a new password',
  };

  function showView(name, focusId) {
    if (name !== 'enroll') stopEnrollTimer();
    document.querySelectorAll('.view').forEach((v) => { v.hidden = v.id !== 'view-' + name; });
    const s = session();
    const full = s.token !== '' && s.step === '';
    const admin = full && profile && profile.super_admin === 'Y';
    $('nav').hidden = !full;
    $('nav-users-item').hidden = !admin;
    $('nav-activity-item').hidden = !admin;
    for (const [id, page] of [['nav-security', 'security'], ['nav-users', 'users'], ['nav-activity', 'activity']]) {
      if (page === name) $(id).setAttribute('aria-current', 'page');
      else $(id).removeAttribute('aria-current');
    }
    document.title = TITLES[name] + ' - mfad';
    if (flash) {
      showMsg(flash.text, flash.kind);
      flash = null;
    } else {
      showMsg('');
    }
    const f = $(focusId || name + '-title');
    if (f) f.focus();
  }

  // go moves to the page of hash, showing msg there.
  function go(hash, msg, kind) {
    flash = msg ? { text: msg, kind: kind || 'info' } : null;
    if (location.hash !== hash) {
      location.hash = hash; // the hashchange event renders
    } else {
      render();
    }
  }

  async function render() {
    const seq = ++renderSeq;
    if (location.hash.startsWith('#reset=')) {
      // The link of a reset mail: keep the id in memory only.
      const m = /^#reset=([0-9a-fA-F-]{36})$/.exec(location.hash);
      resetId = m ? m[1].toLowerCase() : '';
      history.replaceState(null, '', location.pathname + location.search + '#/reset');
    }
    const s = session();
    const page = location.hash.replace(/^#\/?/, '');
    if (page === 'forgot') {
      showView('forgot', 'forgot-email');
      return;
    }
    if (page === 'reset') {
      await showReset(seq);
      return;
    }
    if (!s.token && !resumeTried) {
      resumeTried = true;
      if (await resume()) {
        if (seq !== renderSeq) return;
        render();
        return;
      }
      if (seq !== renderSeq) return;
    }
    if (!s.token) {
      showView('signin', 'signin-email');
      return;
    }
    if (!s.step && returnTo) {
      const back = await backToApp(true);
      if (back.gone) return;
      if (back.note) flash = { text: back.note, kind: 'error' };
    }
    if (s.step) {
      showStep(s.step);
      return;
    }
    if (page === 'users') {
      await showUsers(seq);
    } else if (page === 'activity') {
      await showActivity(seq, 0);
    } else {
      await showSecurity(seq);
    }
  }

  // ---- sign in

  async function onSignIn(ev) {
    ev.preventDefault();
    const form = $('signin-form');
    const email = $('signin-email').value.trim();
    const password = $('signin-password').value;
    if (!email || !password) {
      showMsg('Enter your email and your password.', 'error', form);
      $(email ? 'signin-password' : 'signin-email').focus();
      return;
    }
    await busy(form, async () => {
      try {
        const r = await api('GET', '/session/login', { basic: [email, password] });
        $('signin-password').value = '';
        afterLogin(r);
      } catch (err) {
        fail(err, 'signin', form);
        $('signin-password').select();
      }
    });
  }

  // afterLogin stores the session a login step answered: 207 with the next
  // step owed, or 200 with a full session.
  function afterLogin(r) {
    const tok = r.data && r.data.session_id;
    if (!tok) {
      showMsg('The server sent no session. Try again.', 'error');
      return;
    }
    if (r.status === 207) {
      saveSession(tok, r.mfaCode || '1', r.methods);
      go('#/');
      return;
    }
    saveSession(tok, '');
    keepSession().then((back) => {
      if (back.gone) return;
      if (back.note) go('#/security', back.note, 'error');
      else go('#/security', 'You are signed in.', 'ok');
    });
  }

  // ---- the cookie (forward auth, other tabs)

  // resume takes the session of the cookie, if it holds a full one: a new
  // tab of a signed-in browser needs no new sign-in.
  async function resume() {
    try {
      const r = await api('GET', '/auth/cookie', { cookie: true, headers: { 'X-Mfad-Page': '1' } });
      if (r.data && typeof r.data.session_id === 'string' && r.data.session_id) {
        saveSession(r.data.session_id, '');
        return true;
      }
    } catch (e) { /* no cookie, or its session is over */ }
    return false;
  }

  // keepSession has the server set the full session as the cookie and, when
  // a proxy sent the browser here, goes back to the app. It resolves
  // {gone: true} when the page is leaving, else {note}: what the page must
  // say instead of going back (a return address the server refused, which
  // is dropped; the cookie is set all the same), or ''.
  async function keepSession() {
    if (returnTo) return backToApp(false);
    try { await api('POST', '/auth/cookie', { body: {}, cookie: true }); } catch (e) { /* the page works without it */ }
    return { gone: false, note: '' };
  }

  // backToApp checks returnTo with the server (setting the cookie) and goes
  // there; it resolves as keepSession does. auto: the page was opened already signed in, so a quick second
  // return to the same address means the app keeps sending the browser
  // back (a cookie domain that does not cover it): then the page stops and
  // says so instead of looping.
  async function backToApp(auto) {
    const to = returnTo;
    returnTo = '';
    history.replaceState(null, '', location.pathname + location.hash);
    let r;
    try {
      r = await api('POST', '/auth/cookie', { body: { return_to: to }, cookie: true });
    } catch (err) {
      if (err.code !== 2) return { gone: false, note: '' };
      try { await api('POST', '/auth/cookie', { body: {}, cookie: true }); } catch (e) { /* as above */ }
      return { gone: false, note: 'You are signed in, but mfad does not send you back to ' + to + ': it is not an address on the domains mfad guards.' };
    }
    const dest = r.data && typeof r.data.return_to === 'string' ? r.data.return_to : '';
    if (!dest) return { gone: false, note: '' };
    let last = null;
    try { last = JSON.parse(sessionStorage.getItem(KEY_BOUNCE) || 'null'); } catch (e) { last = null; }
    if (auto && last && last.to === dest && Date.now() - last.at < BOUNCE_MS) {
      sessionStorage.removeItem(KEY_BOUNCE);
      return { gone: false, note: 'You are signed in, but ' + new URL(dest).host + ' sent you straight back here: mfad\u2019s cookie does not reach it. The operator should check --cookie-domain.' };
    }
    sessionStorage.setItem(KEY_BOUNCE, JSON.stringify({ to: dest, at: Date.now() }));
    location.assign(dest);
    return { gone: true, note: '' };
  }

  function showStep(step) {
    const methods = stepMethods();
    switch (step) {
      case '1':
        twoFAView = 'totp';
        placeRecovery();
        // A passkey may answer too when the server says so.
        $('totp-passkey-line').hidden = !methods.includes('WEBAUTHN');
        useRecovery(false);
        showView('totp', 'totp-code');
        return;
      case '4': {
        twoFAView = 'passkey';
        placeRecovery();
        // Recovery codes are offered unless the server says the user has none.
        const noCodes = methods.length > 0 && !methods.includes('RECOVERY');
        $('passkey-recovery-line').hidden = noCodes;
        $('passkey-no-recovery').hidden = !noCodes;
        useRecovery(false);
        showView('passkey', 'passkey-use');
        return;
      }
      case '2':
        $('pin-code').value = '';
        showView('pin', 'pin-code');
        return;
      case '3':
        startEnroll('login');
        return;
    }
    clearSession();
    go('#/', 'The server asked for a sign-in step this page does not know (Mfa-Code ' + step + ').', 'error');
  }

  // placeRecovery moves the recovery form into the view of the 2FA step
  // owed, with the way back to that step's own factor.
  function placeRecovery() {
    const passkey = twoFAView === 'passkey';
    $('view-' + twoFAView).append($('recovery-form'));
    $('recovery-intro').textContent = passkey
      ? 'Cannot use your passkey? Enter one of the recovery codes you saved. Each code works once.'
      : 'Lost your authenticator? Enter one of the recovery codes you saved when you set up 2FA. Each code works once.';
    $('recovery-use-totp').textContent = passkey ? 'Use your passkey instead' : 'Use the authenticator app instead';
  }

  // useRecovery switches the 2FA step between its own factor (the
  // authenticator code, or the passkey) and a recovery code.
  function useRecovery(on) {
    const own = twoFAView === 'passkey' ? 'passkey-form' : 'totp-form';
    $(own).hidden = on;
    $('recovery-form').hidden = !on;
    $('totp-code').value = '';
    $('recovery-code').value = '';
    showMsg('');
    $(on ? 'recovery-code' : (twoFAView === 'passkey' ? 'passkey-use' : 'totp-code')).focus();
  }

  function codeValue(id) {
    return $(id).value.replace(/\s+/g, '');
  }

  async function onTotp(ev) {
    ev.preventDefault();
    const code = codeValue('totp-code');
    if (!/^[0-9]{6}$/.test(code)) {
      showMsg('Enter the 6-digit code from your authenticator app.', 'error', $('totp-form'));
      $('totp-code').focus();
      return;
    }
    await secondFactor($('totp-form'), '2FA', code, 'totp', 'totp-code');
  }

  async function onRecovery(ev) {
    ev.preventDefault();
    const code = $('recovery-code').value.trim();
    if (code.replace(/[\s-]/g, '').length !== 16) {
      showMsg('A recovery code has 16 letters and digits, like 7KQ4-M2XD-9TFA-H3PQ.', 'error', $('recovery-form'));
      $('recovery-code').focus();
      return;
    }
    await secondFactor($('recovery-form'), 'RECOVERY', code, 'recovery', 'recovery-code');
  }

  async function onPin(ev) {
    ev.preventDefault();
    const pin = codeValue('pin-code');
    if (!/^[0-9]{4,12}$/.test(pin)) {
      showMsg('Enter your PIN: 4 to 12 digits.', 'error', $('pin-form'));
      $('pin-code').focus();
      return;
    }
    await secondFactor($('pin-form'), 'PIN', pin, 'pin', 'pin-code');
  }

  async function secondFactor(form, type, code, ctx, inputId) {
    await busy(form, async () => {
      try {
        const r = await api('POST', '/session/login', { body: { auth_type: type, code: code } });
        afterLogin(r);
      } catch (err) {
        fail(err, ctx, form);
        if ($(inputId) && !$(inputId).closest('.view').hidden) {
          $(inputId).value = '';
          $(inputId).focus();
        }
      }
    });
  }

  // ---- passkeys (WebAuthn)

  // noWebAuthn says why this browser cannot use passkeys on this page, or
  // '' when it can. The page needs the JSON forms of the WebAuthn API
  // (parseCreationOptionsFromJSON, parseRequestOptionsFromJSON, toJSON).
  function noWebAuthn() {
    if (!window.isSecureContext) {
      return 'Passkeys need a secure page (https, or localhost): open mfad at its https address.';
    }
    const pkc = window.PublicKeyCredential;
    if (!pkc || !navigator.credentials || typeof navigator.credentials.create !== 'function') {
      return 'This browser cannot use passkeys: it lacks WebAuthn. Use a current version of Chrome, Edge, Firefox or Safari.';
    }
    if (typeof pkc.parseCreationOptionsFromJSON !== 'function' || typeof pkc.parseRequestOptionsFromJSON !== 'function') {
      return 'This browser\u2019s WebAuthn is too old for this page. Update the browser to use passkeys.';
    }
    return '';
  }

  // ceremonyText words why the browser's passkey ceremony failed (a
  // DOMException of credentials.create or get, or null for no answer);
  // adding tells which ceremony it was.
  function ceremonyText(e, adding) {
    const name = (e && e.name) || '';
    switch (name) {
      case 'NotAllowedError':
      case 'AbortError':
        return adding
          ? 'No passkey was made: the request was cancelled or timed out.'
          : 'The passkey did not sign you in: the request was cancelled or timed out, or this device holds no passkey of your account.';
      case 'InvalidStateError':
        if (adding) return 'This authenticator holds one of your passkeys already: use another one, or rename the one you have.';
        break;
      case 'SecurityError':
        return 'The browser refused: this page\u2019s address is not the one the server expects for passkeys (its public URL). Open mfad at that address.';
      case 'NotSupportedError':
        return 'This authenticator cannot make a passkey the server accepts. Try another one.';
    }
    return (adding ? 'No passkey was made' : 'The passkey did not sign you in') + ' (' + (name || 'no answer from the browser') + ').';
  }

  // ceremony asks the server at path for the options of a passkey
  // ceremony and hands them to the browser: navigator.credentials.create
  // when adding, .get when signing in. It resolves with the credential, or
  // with null once it has said why there is none (ctx as in errorText; next
  // ends the sentence of a failed ceremony, after which retry, if given,
  // runs).
  async function ceremony(form, path, ctx, adding, next, retry) {
    let options;
    try {
      const r = await api('POST', path);
      options = r.data && r.data.publicKey;
    } catch (err) {
      fail(err, ctx, form);
      return null;
    }
    let cred = null;
    let failure = null;
    try {
      cred = adding
        ? await navigator.credentials.create({ publicKey: PublicKeyCredential.parseCreationOptionsFromJSON(options) })
        : await navigator.credentials.get({ publicKey: PublicKeyCredential.parseRequestOptionsFromJSON(options) });
    } catch (e) {
      failure = e;
    }
    if (!cred) {
      showMsg(ceremonyText(failure, adding) + ' ' + next, 'error', form);
      if (retry) retry();
    }
    return cred;
  }

  // passkeyLogin answers the 2FA step with a passkey: the options from the
  // server, the browser's ceremony, the assertion back. A cancelled or
  // failed ceremony, or a refused passkey, leaves the step as it was, to
  // try again or to answer another way: next says which (a sentence).
  async function passkeyLogin(form, next) {
    const cannot = noWebAuthn();
    if (cannot) {
      showMsg(cannot + ' ' + next, 'error', form);
      return;
    }
    await busy(form, async () => {
      const cred = await ceremony(form, '/session/login/passkey', 'passkey', false, next);
      if (!cred) return;
      try {
        const r = await api('POST', '/session/login', { body: { auth_type: 'WEBAUTHN', credential: cred.toJSON() } });
        afterLogin(r);
      } catch (err) {
        if (err.code === 13 && !err.details.session_closed && !err.details.locked_seconds) {
          showMsg(errorText(err, 'passkey') + ' ' + next, 'error', form);
        } else {
          fail(err, 'passkey', form);
        }
      }
    });
  }

  // onPasskeyStep: the passkey at Mfa-Code 4.
  async function onPasskeyStep(ev) {
    ev.preventDefault();
    const codes = !$('passkey-recovery-line').hidden;
    await passkeyLogin($('passkey-form'), codes ? 'Try again, or use a recovery code.' : 'Try again.');
    if (!$('view-passkey').hidden && !$('passkey-form').hidden) $('passkey-use').focus();
  }

  // onTotpPasskey: a passkey instead of the code at Mfa-Code 1; on failure
  // the code field is there, ready.
  async function onTotpPasskey() {
    await passkeyLogin($('totp-form'), 'Enter the code from your authenticator app instead, or try the passkey again.');
    if (!$('view-totp').hidden && !$('totp-form').hidden) $('totp-code').focus();
  }

  async function cancelLogin() {
    try { await api('GET', '/session/logout'); } catch (e) { /* the session may be gone already */ }
    clearSession();
    go('#/', 'Sign-in cancelled.', 'info');
  }

  // ---- 2FA enrollment

  // The secret in groups of four, each kept whole when the line wraps.
  function showSecret(s) {
    const box = $('enroll-secret');
    box.textContent = '';
    const groups = s.match(/.{1,4}/g) || [];
    groups.forEach((g, i) => {
      const span = document.createElement('span');
      span.className = 'group';
      span.textContent = g;
      box.append(span);
      if (i < groups.length - 1) box.append(' ');
    });
    box.dataset.secret = s;
  }

  function stopEnrollTimer() {
    if (enrollTimer) clearInterval(enrollTimer);
    enrollTimer = 0;
  }

  function mmss(seconds) {
    const m = Math.floor(seconds / 60);
    const s = seconds % 60;
    return m + ':' + (s < 10 ? '0' : '') + s;
  }

  // startEnrollTimer counts down the time left to confirm the secret.
  function startEnrollTimer(seconds) {
    stopEnrollTimer();
    const end = Date.now() + seconds * 1000;
    const tick = () => {
      const left = Math.max(0, Math.round((end - Date.now()) / 1000));
      const what = enrollMode === 'login' ? 'to finish signing in' : 'to confirm this secret';
      $('enroll-time').textContent = left > 0 ? 'Time left ' + what + ': ' + mmss(left) + '.' : '';
      if (left > 0) return;
      stopEnrollTimer();
      if (enrollMode === 'login') {
        clearSession();
        go('#/', 'Setting up 2FA took longer than 15 minutes, so this sign-in attempt expired. Sign in again: the same secret is shown if it is still valid.', 'error');
      } else {
        showMsg('This secret expired. Get a new secret and add it to your app again.', 'error', $('enroll-form'));
      }
    };
    tick();
    enrollTimer = setInterval(tick, 1000);
  }

  async function startEnroll(mode) {
    enrollMode = mode;
    $('enroll-qr').hidden = true;
    $('enroll-qr').removeAttribute('src');
    $('enroll-open').hidden = true;
    $('enroll-secret').textContent = '';
    $('enroll-time').textContent = '';
    $('enroll-code').value = '';
    $('enroll-intro').textContent = mode === 'login'
      ? 'Two-factor authentication is required for your account. Add mfad to an authenticator app, then enter the code it shows to finish signing in.'
      : 'Add mfad to an authenticator app, then enter the code it shows to confirm. Your other sessions will be signed out.';
    $('enroll-submit').textContent = mode === 'login' ? 'Confirm and sign in' : 'Confirm and turn on';
    $('enroll-cancel').textContent = mode === 'login' ? 'Cancel sign-in' : 'Cancel';
    showView('enroll', 'enroll-title');
    await generate(false);
  }

  // generate shows the pending secret: the same one while it is pending
  // (a reload keeps what was scanned), a new one when fresh.
  async function generate(fresh) {
    try {
      const r = await api('GET', '/profile/2fa/generate' + (fresh ? '?new=1' : ''));
      const d = r.data || {};
      $('enroll-qr').src = 'data:image/png;base64,' + d.qr;
      $('enroll-qr').hidden = false;
      if (typeof d.uri === 'string' && d.uri.startsWith('otpauth://')) {
        $('enroll-open').href = d.uri;
        $('enroll-open').hidden = false;
      }
      showSecret(d.secret || '');
      if (typeof d.expires_in === 'number') startEnrollTimer(d.expires_in);
      if (fresh) showMsg('Here is a new secret: add it to your app, and remove the earlier one there.', 'info', $('enroll-form'));
      $('enroll-code').focus();
    } catch (err) {
      fail(err, 'enroll', $('enroll-form'));
    }
  }

  async function copySecret() {
    const secret = $('enroll-secret').dataset.secret || '';
    try {
      await navigator.clipboard.writeText(secret);
      $('enroll-copy').textContent = 'Copied';
    } catch (e) {
      // No clipboard (an insecure origin, or refused): select it instead.
      const range = document.createRange();
      range.selectNodeContents($('enroll-secret'));
      const sel = window.getSelection();
      sel.removeAllRanges();
      sel.addRange(range);
      $('enroll-copy').textContent = 'Selected: copy it';
    }
    setTimeout(() => { $('enroll-copy').textContent = 'Copy'; }, 3000);
  }

  async function onEnroll(ev) {
    ev.preventDefault();
    const form = $('enroll-form');
    const code = codeValue('enroll-code');
    if (!/^[0-9]{6}$/.test(code)) {
      showMsg('Enter the 6-digit code your authenticator app shows for the new secret.', 'error', form);
      $('enroll-code').focus();
      return;
    }
    await busy(form, async () => {
      try {
        if (enrollMode === 'login') {
          const r = await api('POST', '/session/login', { body: { auth_type: '2FA', code: code } });
          afterLogin(r);
          return;
        }
        const r = await api('POST', '/profile/set-mfa', { body: { auth_type: '2FA', code: code } });
        if (r.data && typeof r.data.session_ids === 'string' && r.data.session_ids) {
          saveSession(r.data.session_ids, '');
          await keepSession();
        }
        go('#/security', 'Two-factor authentication is on. Your other sessions were signed out. Make recovery codes below, for the day you lose your phone.', 'ok');
      } catch (err) {
        fail(err, 'enroll', form);
        if (!$('view-enroll').hidden) {
          $('enroll-code').value = '';
          $('enroll-code').focus();
        }
      }
    });
  }

  function onEnrollCancel() {
    if (enrollMode === 'login') {
      cancelLogin();
    } else {
      go('#/security', 'Two-factor authentication was not changed.', 'info');
    }
  }

  // ---- security page

  async function loadProfile() {
    const r = await api('GET', '/profile');
    profile = r.data;
    return profile;
  }

  async function showSecurity(seq) {
    let p, list;
    try {
      [p, list] = await Promise.all([loadProfile(), api('GET', '/profile/passkeys')]);
    } catch (err) {
      fail(err, 'load');
      return;
    }
    if (seq !== renderSeq) return;
    passkeys = (list.data && list.data.passkeys) || [];
    const methods = p.auth_methods || [];
    const forced = p.forced_auth || [];
    const has2fa = methods.includes('2FA');
    const hasPin = methods.includes('PIN');
    const hasPk = passkeys.length > 0;
    const forced2fa = forced.includes('2FA');
    const forcedPin = forced.includes('PIN');
    $('sec-pw-user').value = p.email;
    $('sec-who').textContent = 'Signed in as ' + p.name + ' (' + p.email + ')' + (p.super_admin === 'Y' ? ', administrator.' : '.');
    $('sec-who').title = p.name + ' (' + p.email + ')';
    $('sec-2fa-state').textContent = has2fa ? 'On' : 'Off';
    $('sec-2fa-forced').textContent = forced2fa ? 'Forced (required)' : 'Not forced';
    $('sec-pin-state').textContent = hasPin ? 'On' : 'Off';
    $('sec-pin-forced').textContent = forcedPin ? 'Forced (required)' : 'Not forced';

    $('sec-2fa-enable').textContent = has2fa ? 'Set up a new authenticator' : 'Turn on 2FA';
    $('sec-2fa-remove').hidden = !has2fa || forced2fa;
    $('sec-2fa-help').textContent = has2fa
      ? (forced2fa
        ? 'Two-factor authentication is on and required: it cannot be turned off here.'
        : 'Two-factor authentication is on: signing in asks for a code from your authenticator app.')
      : hasPk
        ? 'No authenticator app is set up: your passkeys are your second factor. You can add an authenticator app as well.'
        : 'Two-factor authentication is off. Turn it on to ask for a code from an authenticator app at every sign-in.';

    showPasskeys(has2fa);

    // Recovery codes stand in for the authenticator app and for passkeys.
    const second = has2fa || hasPk;
    const lost = has2fa && hasPk ? 'your authenticator app or your passkeys' : has2fa ? 'your authenticator app' : 'your passkeys';
    const left = typeof p.recovery_codes_left === 'number' ? p.recovery_codes_left : 0;
    $('sec-rc-make').hidden = !second;
    $('sec-rc-make').textContent = left > 0 ? 'Make new recovery codes' : 'Make recovery codes';
    $('sec-rc-state').textContent = !second
      ? 'Recovery codes stand in for your authenticator app or your passkey when you lose it. Turn on 2FA or add a passkey first.'
      : left > 0
        ? 'You have ' + plural(left, 'unused recovery code') + '. Each works once, in place of ' + (has2fa ? 'a code from your authenticator app' : 'your passkey') + (has2fa && hasPk ? ' or your passkey' : '') + '.'
        : 'You have no recovery codes. Make some and keep them safe: they let you sign in when you lose ' + lost + '.';
    $('sec-rc-warning').hidden = !(second && left > 0 && left <= 2);
    $('sec-rc-warning').textContent = 'Only ' + plural(left, 'recovery code') + ' left: make new ones soon.';
    $('sec-rc-new').hidden = recoveryCodes.length === 0;

    $('sec-pin-submit').textContent = hasPin ? 'Change PIN' : 'Set PIN';
    $('sec-pin-remove').hidden = !hasPin || forcedPin;
    $('sec-pin').value = '';
    $('sec-pin-help').textContent = hasPin
      ? (forcedPin
        ? 'Your PIN is on and required: it cannot be removed here. You can change it.'
        : 'Your PIN is on: signing in asks for it.')
      : 'No PIN is set. A PIN is asked for at sign-in, after the authenticator code if 2FA is on.';
    showView('security');
  }

  async function onSetPin(ev) {
    ev.preventDefault();
    const form = $('sec-pin-form');
    const pin = codeValue('sec-pin');
    if (!/^[0-9]{4,12}$/.test(pin)) {
      showMsg('A PIN must be 4 to 12 digits.', 'error', form);
      $('sec-pin').focus();
      return;
    }
    await busy(form, async () => {
      try {
        const r = await api('POST', '/profile/set-mfa', { body: { auth_type: 'PIN', code: pin } });
        if (r.data && typeof r.data.session_ids === 'string' && r.data.session_ids) {
          saveSession(r.data.session_ids, '');
          await keepSession();
        }
        go('#/security', 'Your PIN is set. Your other sessions were signed out.', 'ok');
      } catch (err) {
        fail(err, 'profile-pin', form);
      }
    });
  }

  async function removeFactor(btn, type) {
    const ok = type === '2FA'
      ? await confirmDialog('Turn off 2FA?', 'Signing in will no longer ask for a code from your authenticator app, and your recovery codes are deleted.', 'Turn off 2FA')
      : await confirmDialog('Remove your PIN?', 'Signing in will no longer ask for your PIN.', 'Remove PIN');
    if (!ok) return;
    await busy(btn, async () => {
      try {
        await api('POST', '/profile/remove-mfa', { body: { auth_type: type } });
        go('#/security', (type === '2FA' ? 'Two-factor authentication is off.' : 'Your PIN is removed.'), 'ok');
      } catch (err) {
        fail(err, 'remove', btn.closest('.actions'));
      }
    });
  }

  // ---- passkeys on the security page

  // showPasskeys fills the passkeys' part of the security page from
  // passkeys; has2fa says whether an authenticator app is set up too.
  function showPasskeys(has2fa) {
    const n = passkeys.length;
    $('sec-pk-state').textContent = n ? 'On (' + plural(n, 'passkey') + ')' : 'Off';
    const cannot = noWebAuthn();
    $('sec-pk-help').textContent = n
      ? (has2fa
        ? 'At sign-in you can use a passkey instead of a code from your authenticator app.'
        : 'Signing in asks for one of your passkeys after your password.') + (cannot ? ' ' + cannot : '')
      : 'A passkey is a security key, or the screen lock of this device or of your phone, that proves it is you at sign-in: no code to type.' +
        (cannot ? ' ' + cannot : '');
    const body = $('sec-pk-list');
    body.textContent = '';
    for (const k of passkeys) {
      const tr = document.createElement('tr');
      tr.dataset.id = k.id;
      const name = cell('th', 'Name', k.name, true);
      name.scope = 'row';
      const act = document.createElement('td');
      act.dataset.label = 'Actions';
      act.className = 'actions-cell';
      const ren = document.createElement('button');
      ren.type = 'button';
      ren.className = 'secondary small';
      ren.dataset.action = 'rename';
      ren.textContent = 'Rename';
      ren.setAttribute('aria-label', 'Rename the passkey ' + k.name);
      ren.addEventListener('click', () => openRename(k.id));
      const del = document.createElement('button');
      del.type = 'button';
      del.className = 'danger small';
      del.dataset.action = 'delete';
      del.textContent = 'Delete\u2026';
      del.setAttribute('aria-label', 'Delete the passkey ' + k.name);
      del.addEventListener('click', (ev) => deletePasskey(ev.currentTarget, k.id));
      act.append(ren, ' ', del);
      tr.append(name, cell('td', 'Added', when(k.created)), cell('td', 'Last used', when(k.last_used)), act);
      body.append(tr);
    }
    $('sec-pk-table').hidden = n === 0;
    $('sec-pk-rename-form').hidden = true;
    renameId = '';
    $('sec-pk-add').textContent = n ? 'Add another passkey' : 'Add a passkey';
  }

  async function onAddPasskey(ev) {
    ev.preventDefault();
    const form = $('sec-pk-form');
    const name = $('sec-pk-name').value.trim();
    if (!name || [...name].length > 64) {
      showMsg('Give the new passkey a name of 1 to 64 characters, such as YubiKey or Work laptop, to tell it from others.', 'error', form);
      $('sec-pk-name').focus();
      return;
    }
    const cannot = noWebAuthn();
    if (cannot) {
      showMsg(cannot, 'error', form);
      return;
    }
    await busy(form, async () => {
      const cred = await ceremony(form, '/profile/passkeys/options', 'passkey-add', true, 'Try again when you are ready.',
        () => $('sec-pk-add').focus());
      if (!cred) return;
      let added;
      try {
        const r = await api('POST', '/profile/passkeys', { body: { name: name, credential: cred.toJSON() } });
        added = r.data || {};
      } catch (err) {
        fail(err, 'passkey-add', form);
        return;
      }
      form.reset();
      go('#/security', 'The passkey \u201c' + (added.name || name) + '\u201d is added: you can sign in with it.', 'ok');
    });
  }

  function openRename(id) {
    const k = passkeys.find((x) => x.id === id);
    if (!k) return;
    renameId = id;
    $('sec-pk-rename-label').textContent = 'New name for the passkey \u201c' + k.name + '\u201d';
    $('sec-pk-rename').value = k.name;
    $('sec-pk-rename-form').hidden = false;
    showMsg('');
    $('sec-pk-rename').select();
    $('sec-pk-rename').focus();
  }

  async function onRenamePasskey(ev) {
    ev.preventDefault();
    const form = $('sec-pk-rename-form');
    const name = $('sec-pk-rename').value.trim();
    if (!name || [...name].length > 64) {
      showMsg('A passkey\u2019s name is 1 to 64 characters.', 'error', form);
      $('sec-pk-rename').focus();
      return;
    }
    await busy(form, async () => {
      try {
        await api('POST', '/profile/passkeys/rename', { body: { id: renameId, name: name } });
      } catch (err) {
        if (err.code === 32) {
          go('#/security', errorText(err, 'passkey-rename'), 'error');
          return;
        }
        fail(err, 'passkey-rename', form);
        return;
      }
      go('#/security', 'The passkey is renamed \u201c' + name + '\u201d.', 'ok');
    });
  }

  async function deletePasskey(btn, id) {
    const k = passkeys.find((x) => x.id === id);
    if (!k) return;
    const last = passkeys.length === 1;
    const has2fa = profile && (profile.auth_methods || []).includes('2FA');
    let warn = 'You can no longer sign in with it.';
    if (last) {
      warn += has2fa
        ? ' Signing in will ask for a code from your authenticator app again.'
        : ' It is your last passkey: signing in will no longer ask for one (unless 2FA is required, which then asks you to set up an authenticator app).';
    }
    const ok = await confirmDialog('Delete the passkey \u201c' + k.name + '\u201d?', warn, 'Delete passkey');
    if (!ok) return;
    await busy(btn, async () => {
      try {
        await api('POST', '/profile/passkeys/delete', { body: { id: id } });
      } catch (err) {
        if (err.code === 32) {
          go('#/security', errorText(err, 'passkey-delete'), 'error');
          return;
        }
        fail(err, 'passkey-delete', $('sec-pk'));
        return;
      }
      go('#/security', 'The passkey \u201c' + k.name + '\u201d is deleted.', 'ok');
    });
  }

  // ---- recovery codes

  async function makeRecoveryCodes(btn) {
    if (profile && profile.recovery_codes_left > 0) {
      const ok = await confirmDialog('Make new recovery codes?',
        'Your ' + plural(profile.recovery_codes_left, 'unused code') + ' will stop working at once.', 'Make new codes');
      if (!ok) return;
    }
    await busy(btn, async () => {
      try {
        const r = await api('POST', '/profile/recovery-codes');
        recoveryCodes = (r.data && r.data.codes) || [];
      } catch (err) {
        fail(err, 'recovery-make', $('sec-rc'));
        return;
      }
      const list = $('sec-rc-list');
      list.textContent = '';
      for (const c of recoveryCodes) {
        const li = document.createElement('li');
        li.textContent = c;
        list.append(li);
      }
      if (profile) profile.recovery_codes_left = recoveryCodes.length;
      $('sec-rc-new').hidden = false;
      $('sec-rc-make').textContent = 'Make new recovery codes';
      $('sec-rc-state').textContent = 'You have ' + plural(recoveryCodes.length, 'unused recovery code') + '.';
      $('sec-rc-warning').hidden = true;
      showMsg('New recovery codes are made. Save them before you leave this page.', 'ok', $('sec-rc-new'));
      $('sec-rc-download').focus();
    });
  }

  function recoveryText() {
    const who = profile ? profile.email : '';
    return 'mfad recovery codes for ' + who + '\n' +
      'Made ' + new Date().toISOString().slice(0, 10) + '. Each code works once, at sign-in, in place of a code from your authenticator app or of your passkey.\n\n' +
      recoveryCodes.join('\n') + '\n';
  }

  // downloadRecoveryCodes saves the codes as a text file (a data: link:
  // the file never leaves the browser).
  function downloadRecoveryCodes() {
    const old = $('sec-rc-file');
    if (old) old.remove();
    const a = document.createElement('a');
    a.href = 'data:text/plain;charset=utf-8,' + encodeURIComponent(recoveryText());
    a.download = 'mfad-recovery-codes.txt';
    a.id = 'sec-rc-file';
    a.hidden = true;
    document.body.append(a);
    a.click();
  }

  function doneRecoveryCodes() {
    recoveryCodes = [];
    const file = $('sec-rc-file');
    if (file) file.remove();
    $('sec-rc-list').textContent = '';
    $('sec-rc-new').hidden = true;
    showMsg('');
    $('sec-rc-make').focus();
  }

  // ---- passwords

  // checkNewPassword checks what the page can before a new password is
  // sent: both fields the same, at least 8 characters (code points, as the
  // server counts). The server applies the rest of the policy. It shows the
  // problem and answers false.
  function checkNewPassword(id, againId, form) {
    const pw = $(id).value;
    if ([...pw].length < 8) {
      showMsg('The new password needs at least 8 characters.', 'error', form);
      $(id).focus();
      return false;
    }
    if (pw !== $(againId).value) {
      showMsg('The two new passwords differ. Type the same password twice.', 'error', form);
      $(againId).value = '';
      $(againId).focus();
      return false;
    }
    return true;
  }

  async function onChangePassword(ev) {
    ev.preventDefault();
    const form = $('sec-pw-form');
    if (!$('sec-pw-current').value) {
      showMsg('Enter your current password.', 'error', form);
      $('sec-pw-current').focus();
      return;
    }
    if (!checkNewPassword('sec-pw-new', 'sec-pw-new2', form)) return;
    await busy(form, async () => {
      try {
        await api('POST', '/profile/set-password', {
          body: { password: base64($('sec-pw-current').value), new_password: base64($('sec-pw-new').value) },
        });
      } catch (err) {
        fail(err, 'password', form);
        if (err.code === 27 || err.code === 15) {
          $('sec-pw-current').value = '';
          $('sec-pw-current').focus();
        }
        return;
      }
      form.reset();
      go('#/security', 'Your password is changed. Your other sessions were signed out.', 'ok');
    });
  }

  async function onForgot(ev) {
    ev.preventDefault();
    const form = $('forgot-form');
    const email = $('forgot-email').value.trim();
    if (!email) {
      showMsg('Enter your email.', 'error', form);
      $('forgot-email').focus();
      return;
    }
    await busy(form, async () => {
      try {
        await api('POST', '/reset-password/request', { body: { email: [email] } });
      } catch (err) {
        fail(err, 'forgot', form);
        return;
      }
      form.reset();
      go('#/', 'If a user has the email ' + email + ', a link to set a new password is on its way to it. It works once, for 30 minutes.', 'ok');
    });
  }

  async function showReset(seq) {
    if (!resetId) {
      go('#/forgot', 'This page needs the link from your reset mail: open it again, or ask for a new one below.', 'error');
      return;
    }
    try {
      await api('GET', '/reset-password/metadata/' + encodeURIComponent(resetId));
    } catch (err) {
      if (seq !== renderSeq) return;
      if (err.code === 29) {
        resetId = '';
        go('#/forgot', errorText(err, 'password'), 'error');
        return;
      }
      showView('reset', 'reset-title');
      showMsg(errorText(err, 'password'), 'error');
      return;
    }
    if (seq !== renderSeq) return;
    $('reset-form').reset();
    showView('reset', 'reset-password');
  }

  async function onReset(ev) {
    ev.preventDefault();
    const form = $('reset-form');
    if (!checkNewPassword('reset-password', 'reset-password2', form)) return;
    await busy(form, async () => {
      try {
        await api('POST', '/reset-password/reset/' + encodeURIComponent(resetId), { body: { password: $('reset-password').value } });
      } catch (err) {
        if (err.code === 29) {
          resetId = '';
          go('#/forgot', errorText(err, 'password'), 'error');
          return;
        }
        fail(err, 'password', form);
        return;
      }
      resetId = '';
      form.reset();
      clearSession(); // the reset closed every session of the user
      go('#/', 'Your new password is set. Sign in with it.', 'ok');
    });
  }

  // ---- users page (admins)

  function when(unix) {
    if (!unix) return 'never';
    return new Date(unix * 1000).toLocaleString(undefined, { dateStyle: 'short', timeStyle: 'short' });
  }

  const FACTOR_WORDS = { active: 'Active', pending_enrollment: 'Pending setup', off: 'Off' };

  // factorState is a factor's state: mfa_status's, else from auth_methods.
  function factorState(u, type) {
    return (u.mfa_status && u.mfa_status[type]) || ((u.auth_methods || []).includes(type) ? 'active' : 'off');
  }

  // factorText is a factor's state for people, with "forced" when it is.
  // 2FA on or forced without an authenticator app is satisfied by passkeys.
  function factorText(u, type) {
    const st = factorState(u, type);
    let text = FACTOR_WORDS[st] || st;
    if (type === '2FA' && st === 'off' && (u.auth_methods || []).includes('2FA') && factorState(u, 'WEBAUTHN') === 'active') text = 'By passkey';
    if ((u.forced_auth || []).includes(type)) text += ', forced';
    return text;
  }

  // A cell, labelled for the narrow layout (each row a card), clipped with
  // the whole value on hover when it is long.
  function cell(tag, label, text, clip) {
    const td = document.createElement(tag);
    td.dataset.label = label;
    if (clip) {
      const span = document.createElement('span');
      span.className = 'clip';
      span.textContent = text;
      span.title = text;
      td.append(span);
    } else {
      td.textContent = text;
    }
    return td;
  }

  async function showUsers(seq) {
    let userList, settings;
    try {
      if (!profile) await loadProfile();
      if (profile.super_admin !== 'Y') {
        go('#/security', 'The users page is for administrators.', 'error');
        return;
      }
      [userList, settings] = await Promise.all([api('GET', '/user'), api('GET', '/settings')]);
    } catch (err) {
      fail(err, 'load');
      return;
    }
    if (seq !== renderSeq) return;
    const forced = ((settings.data && settings.data.auth_methods) || []).includes('2FA');
    $('acct-force2fa').checked = forced;
    $('acct-state').textContent = forced
      ? 'Two-factor authentication is currently required for every user of the account.'
      : 'Two-factor authentication is currently not required for the whole account.';

    const body = $('users-body');
    body.textContent = '';
    const rows = (userList.data || []).slice().sort((a, b) => a.email.localeCompare(b.email));
    users = new Map(rows.map((u) => [u.id, u]));
    for (const u of rows) {
      const tr = document.createElement('tr');
      const sel = document.createElement('td');
      sel.className = 'select';
      const box = document.createElement('input');
      box.type = 'checkbox';
      box.name = 'user-id';
      box.value = u.id;
      box.id = 'user-' + u.id;
      box.dataset.email = u.email;
      const lab = document.createElement('label');
      lab.htmlFor = box.id;
      lab.className = 'vh';
      lab.textContent = 'Select ' + u.email;
      sel.append(box, lab);
      tr.append(sel,
        cell('td', 'Name', u.name, true),
        cell('th', 'Email', u.email, true),
        cell('td', 'Role', u.super_admin === 'Y' ? 'Admin' : 'User'),
        cell('td', 'Status', u.status === 'D' ? 'Disabled' : 'Active'),
        cell('td', '2FA', factorText(u, '2FA')),
        cell('td', 'PIN', factorText(u, 'PIN')),
        cell('td', 'Passkeys', factorText(u, 'WEBAUTHN')),
        cell('td', 'Last sign-in', when(u.last_login)));
      tr.cells[2].scope = 'row';
      const act = document.createElement('td');
      act.dataset.label = 'Actions';
      act.append(rowMenu(u));
      tr.append(act);
      tr.dataset.email = u.email;
      tr.dataset.search = (u.name + ' ' + u.email).toLowerCase();
      body.append(tr);
    }
    $('users-all').checked = false;
    $('users-bulk').value = '';
    onBulkChange();
    $('edit-user').hidden = true;
    filterUsers();
    showView('users');
  }

  // rowMenu is a user's actions: a disclosure menu of buttons, the ones
  // that make no sense for the user left out.
  function rowMenu(u) {
    const self = profile && profile.id === u.id;
    const methods = u.auth_methods || [];
    const st = u.mfa_status || {};
    const items = [['edit', 'Edit']];
    items.push(['force-2fa', 'Force 2FA']);
    items.push(['force-pin', (methods.includes('PIN') ? 'Force a new PIN' : 'Force PIN') + '\u2026']);
    if (st['2FA'] === 'active') items.push(['reset-2fa', 'Reset 2FA (new authenticator)']);
    if (methods.includes('2FA')) items.push(['remove-2fa', 'Remove 2FA\u2026']);
    if (methods.includes('PIN')) items.push(['remove-pin', 'Remove PIN\u2026']);
    if (factorState(u, 'WEBAUTHN') === 'active') items.push(['remove-passkeys', 'Remove passkeys\u2026']);
    items.push(['unlock', 'Unlock']);
    if (!self) {
      items.push(u.status === 'D' ? ['enable', 'Enable'] : ['disable', 'Disable']);
      items.push(u.super_admin === 'Y' ? ['make-user', 'Take administrator rights away'] : ['make-admin', 'Make administrator']);
      items.push(['delete', 'Delete\u2026']);
    }
    const menu = document.createElement('details');
    menu.className = 'menu';
    const sum = document.createElement('summary');
    sum.textContent = 'Actions';
    sum.setAttribute('aria-label', 'Actions for ' + u.email);
    const list = document.createElement('ul');
    for (const [action, label] of items) {
      const li = document.createElement('li');
      const b = document.createElement('button');
      b.type = 'button';
      b.className = 'link';
      b.dataset.action = action;
      b.textContent = label;
      b.addEventListener('click', () => {
        menu.open = false;
        if (action === 'edit') openEdit(u.id);
        else userAction(action, [u.id], menu);
      });
      li.append(b);
      list.append(li);
    }
    menu.append(sum, list);
    // One menu open at a time.
    menu.addEventListener('toggle', () => {
      if (!menu.open) return;
      document.querySelectorAll('#users-body details.menu[open]').forEach((m) => { if (m !== menu) m.open = false; });
    });
    return menu;
  }

  function filterUsers() {
    const q = $('users-filter').value.trim().toLowerCase();
    let shown = 0;
    const rows = document.querySelectorAll('#users-body tr');
    rows.forEach((tr) => {
      const hit = !q || tr.dataset.search.includes(q);
      tr.hidden = !hit;
      if (hit) shown++;
      else tr.querySelector('input[name="user-id"]').checked = false;
    });
    $('users-count').textContent = q
      ? plural(shown, 'user') + ' of ' + rows.length + ' match \u201c' + $('users-filter').value.trim() + '\u201d.'
      : plural(rows.length, 'user') + '.';
  }

  function selectedIds() {
    return Array.from(document.querySelectorAll('#users-body tr:not([hidden]) input[name="user-id"]:checked')).map((b) => b.value);
  }

  function onBulkChange() {
    $('users-pin-field').hidden = $('users-bulk').value !== 'force-pin';
  }

  // ACTIONS are the changes of users: the endpoint, the body besides the
  // ids, the message, whether the change closes the users' sessions (and
  // so the admin's own, when they are among them), and what to confirm.
  const ACTIONS = {
    'force-2fa': { path: '/user/set-mfa', body: { auth_type: '2FA' }, done: '2FA is forced on', closes: true },
    'force-pin': { path: '/user/set-mfa', body: { auth_type: 'PIN' }, done: 'PIN is forced on', closes: true, pin: true },
    'remove-2fa': { path: '/user/remove-mfa', body: { auth_type: '2FA' }, done: '2FA is removed for', confirm: 'Remove 2FA', warn: 'They will sign in without an authenticator code, and their recovery codes are deleted.' },
    'remove-pin': { path: '/user/remove-mfa', body: { auth_type: 'PIN' }, done: 'PIN is removed for', confirm: 'Remove PIN', warn: 'They will sign in without a PIN.' },
    'remove-passkeys': { path: '/user/remove-mfa', body: { auth_type: 'WEBAUTHN' }, done: 'Passkeys are removed for', closes: true, confirm: 'Remove passkeys', warn: 'Every passkey of theirs is deleted and their sessions are closed. They sign in with their other factors; when 2FA is required and they have no authenticator app, the next sign-in sets one up.' },
    'reset-2fa': { path: '/user/reset-mfa', body: { auth_type: '2FA' }, done: '2FA is reset for', closes: true },
    'unlock': { path: '/user/unlock', body: {}, done: 'Failed sign-in attempts are cleared for' },
    'disable': { path: '/user/edit', body: { status: 'D' }, done: 'Sign-in is disabled for', closes: true },
    'enable': { path: '/user/edit', body: { status: 'A' }, done: 'Sign-in is enabled for' },
    'make-admin': { path: '/user/edit', body: { super_admin: 'Y' }, done: 'Administrator rights are given to' },
    'make-user': { path: '/user/edit', body: { super_admin: 'N' }, done: 'Administrator rights are taken from' },
    'delete': { path: '/user/delete', body: {}, done: 'Deleted', closes: true, confirm: 'Delete', warn: 'This cannot be undone: their sessions are closed and the users are gone.' },
  };

  // whom names the users of ids: an email for one, a count for more.
  function whom(ids) {
    if (ids.length === 1 && users.has(ids[0])) return users.get(ids[0]).email;
    return plural(ids.length, 'user');
  }

  // userAction applies action to the users of ids, after a confirmation
  // where the action removes or deletes something; near is where to show
  // an error.
  async function userAction(action, ids, near, pin) {
    const a = ACTIONS[action];
    if (!a) return;
    const body = Object.assign({ ids: ids }, a.body);
    if (a.pin) {
      if (pin === undefined) {
        pin = await confirmDialog('Force a PIN on ' + whom(ids) + '?',
          'Each user gets this PIN, and it is asked for at every sign-in. Their sessions are closed.', 'Force PIN', true);
        if (pin === false) return;
      }
      body.code = pin;
    } else if (a.confirm) {
      const ok = await confirmDialog(a.confirm + ' for ' + whom(ids) + '?', a.warn, a.confirm);
      if (!ok) return;
    }
    try {
      await api('POST', a.path, { body: body });
    } catch (err) {
      fail(err, a.pin ? 'users-pin' : 'users', near);
      return;
    }
    const text = a.done + ' ' + whom(ids) + '.';
    if (a.closes && profile && ids.includes(profile.id)) {
      // Forcing or resetting a factor closes the users' sessions: ours too.
      clearSession();
      go('#/', text + ' Your own sessions were closed by this change: sign in again.', 'ok');
      return;
    }
    go('#/users', text + (a.closes ? ' Their sessions were closed.' : ''), 'ok');
  }

  async function onApply(ev) {
    ev.preventDefault();
    const form = $('users-form');
    const fieldset = form.querySelector('fieldset');
    const ids = selectedIds();
    const action = $('users-bulk').value;
    if (ids.length === 0) {
      showMsg('Select at least one user first.', 'error', fieldset);
      return;
    }
    if (!action) {
      showMsg('Choose an action for the selected users.', 'error', fieldset);
      $('users-bulk').focus();
      return;
    }
    let pin;
    if (action === 'force-pin') {
      pin = codeValue('users-pin');
      if (!/^[0-9]{4,12}$/.test(pin)) {
        showMsg('A PIN must be 4 to 12 digits.', 'error', fieldset);
        $('users-pin').focus();
        return;
      }
    }
    await busy(form, async () => {
      await userAction(action, ids, fieldset, pin);
      $('users-pin').value = '';
    });
  }

  let editId = ''; // the user the edit form shows

  function openEdit(id) {
    const u = users.get(id);
    if (!u) return;
    editId = id;
    const self = profile && profile.id === id;
    $('edit-title').textContent = 'Edit ' + u.email;
    $('edit-title').title = u.email;
    $('edit-name').value = u.name;
    $('edit-email').value = u.email;
    $('edit-admin').checked = u.super_admin === 'Y';
    $('edit-disabled').checked = u.status === 'D';
    $('edit-admin').disabled = self;
    $('edit-disabled').disabled = self;
    $('edit-self').hidden = !self;
    $('edit-user').hidden = false;
    showMsg('');
    $('edit-user').scrollIntoView({ block: 'start' });
    $('edit-title').focus();
  }

  async function onEdit(ev) {
    ev.preventDefault();
    const form = $('edit-form');
    const u = users.get(editId);
    if (!u) return;
    const name = $('edit-name').value.trim();
    const email = $('edit-email').value.trim();
    if (!name || !email) {
      showMsg('A user needs a name and an email.', 'error', form);
      $(name ? 'edit-email' : 'edit-name').focus();
      return;
    }
    // Only what changed is sent.
    const body = { ids: [editId] };
    if (name !== u.name) body.name = name;
    if (email !== u.email) body.email = email;
    const admin = $('edit-admin').checked ? 'Y' : 'N';
    if (admin !== u.super_admin) body.super_admin = admin;
    const status = $('edit-disabled').checked ? 'D' : 'A';
    if (status !== (u.status || 'A')) body.status = status;
    if (Object.keys(body).length === 1) {
      showMsg('Nothing was changed.', 'info', form);
      return;
    }
    await busy(form, async () => {
      try {
        await api('POST', '/user/edit', { body: body });
      } catch (err) {
        fail(err, 'edit', form);
        return;
      }
      if (editId === (profile && profile.id)) profile = null; // reread the own profile
      go('#/users', 'User ' + email + ' is saved.' + (body.status === 'D' ? ' Their sessions were closed.' : ''), 'ok');
    });
  }

  async function onSettings(ev) {
    ev.preventDefault();
    const form = $('acct-form');
    const on = $('acct-force2fa').checked;
    await busy(form, async () => {
      try {
        await api('POST', '/settings/set', { body: { auth_methods: on ? ['2FA'] : [] } });
        go('#/users', on
          ? 'Two-factor authentication is now required for every user of the account.'
          : 'Two-factor authentication is no longer required for the whole account.', 'ok');
      } catch (err) {
        fail(err, 'settings', form);
      }
    });
  }

  async function onCreate(ev) {
    ev.preventDefault();
    const form = $('create-form');
    const name = $('create-name').value.trim();
    const email = $('create-email').value.trim();
    const password = $('create-password').value;
    if (!name || !email || [...password].length < 8) { // code points, as the server counts
      showMsg('Enter a name, an email and a password of at least 8 characters.', 'error', form);
      return;
    }
    await busy(form, async () => {
      try {
        await api('POST', '/user/create', {
          body: { name: name, email: email, password: password, super_admin: $('create-admin').checked ? 'Y' : 'N' },
        });
      } catch (err) {
        fail(err, 'create', form);
        return;
      }
      form.reset();
      go('#/users', 'User ' + email + ' is created.', 'ok');
    });
  }

  // ---- activity page (admins)

  const PAGE = 50;

  async function showActivity(seq, before) {
    let r;
    try {
      if (!profile) await loadProfile();
      if (profile.super_admin !== 'Y') {
        go('#/security', 'The activity page is for administrators.', 'error');
        return;
      }
      const q = '?limit=' + PAGE + (before ? '&before=' + before : '');
      const [act, list] = await Promise.all([api('GET', '/tracking/activity' + q), users.size ? null : api('GET', '/user')]);
      if (list) users = new Map((list.data || []).map((u) => [u.id, u]));
      r = act;
    } catch (err) {
      fail(err, 'load');
      return;
    }
    if (seq !== renderSeq) return;
    const items = (r.data && r.data.activity) || [];
    const body = $('activity-body');
    body.textContent = '';
    const who = (id) => (users.has(id) ? users.get(id).email : (id || ''));
    for (const e of items) {
      const tr = document.createElement('tr');
      if (e.outcome === 'failure') tr.className = 'failure';
      tr.append(
        cell('td', 'Time', when(e.time)),
        cell('td', 'Event', e.event),
        cell('td', 'Outcome', e.outcome === 'failure' ? 'Failure' : 'Success'),
        cell('td', 'User', who(e.user_id), true),
        cell('td', 'By', e.actor_id === e.user_id ? 'themself' : who(e.actor_id), true),
        cell('td', 'Address', e.addr || ''),
        cell('td', 'Detail', e.detail || ''));
      body.append(tr);
    }
    const next = (r.data && r.data.next) || 0;
    $('activity-older').hidden = !next;
    $('activity-older').dataset.next = String(next);
    $('activity-newest').hidden = !before;
    $('activity-caption').textContent = items.length
      ? 'The account\u2019s audit trail: ' + items.length + (items.length === 1 ? ' entry' : ' entries') + (before ? ', older ones' : ', the newest') + '.'
      : 'No activity recorded yet.';
    showView('activity');
  }

  // ---- sign out

  async function signOut() {
    try { await api('GET', '/session/logout'); } catch (e) { /* already closed */ }
    try { await api('DELETE', '/auth/cookie', { cookie: true }); } catch (e) { /* it names a closed session anyway */ }
    clearSession();
    users = new Map();
    recoveryCodes = [];
    const file = $('sec-rc-file');
    if (file) file.remove();
    go('#/', 'You are signed out.', 'ok');
  }

  // ---- wiring

  function init() {
    $('signin-form').addEventListener('submit', onSignIn);
    $('totp-form').addEventListener('submit', onTotp);
    $('recovery-form').addEventListener('submit', onRecovery);
    $('totp-use-recovery').addEventListener('click', () => useRecovery(true));
    $('totp-use-passkey').addEventListener('click', onTotpPasskey);
    $('passkey-form').addEventListener('submit', onPasskeyStep);
    $('passkey-use-recovery').addEventListener('click', () => useRecovery(true));
    $('recovery-use-totp').addEventListener('click', () => useRecovery(false));
    $('pin-form').addEventListener('submit', onPin);
    $('enroll-form').addEventListener('submit', onEnroll);
    $('enroll-regenerate').addEventListener('click', () => { showMsg(''); generate(true); });
    $('enroll-cancel').addEventListener('click', onEnrollCancel);
    $('enroll-copy').addEventListener('click', copySecret);
    document.querySelectorAll('.cancel-login').forEach((b) => b.addEventListener('click', cancelLogin));
    $('sec-2fa-enable').addEventListener('click', () => startEnroll('profile'));
    $('sec-2fa-remove').addEventListener('click', (ev) => removeFactor(ev.currentTarget, '2FA'));
    $('sec-rc-make').addEventListener('click', (ev) => makeRecoveryCodes(ev.currentTarget));
    $('sec-rc-download').addEventListener('click', downloadRecoveryCodes);
    $('sec-rc-print').addEventListener('click', () => window.print());
    $('sec-rc-done').addEventListener('click', doneRecoveryCodes);
    $('sec-pin-form').addEventListener('submit', onSetPin);
    $('sec-pk-form').addEventListener('submit', onAddPasskey);
    $('sec-pk-rename-form').addEventListener('submit', onRenamePasskey);
    $('sec-pk-rename-cancel').addEventListener('click', () => { $('sec-pk-rename-form').hidden = true; renameId = ''; showMsg(''); });
    $('sec-pin-remove').addEventListener('click', (ev) => removeFactor(ev.currentTarget, 'PIN'));
    $('acct-form').addEventListener('submit', onSettings);
    $('users-form').addEventListener('submit', onApply);
    $('users-bulk').addEventListener('change', onBulkChange);
    $('users-filter').addEventListener('input', filterUsers);
    $('create-form').addEventListener('submit', onCreate);
    $('edit-form').addEventListener('submit', onEdit);
    $('edit-cancel').addEventListener('click', () => { $('edit-user').hidden = true; showMsg(''); });
    $('sec-pw-form').addEventListener('submit', onChangePassword);
    $('forgot-form').addEventListener('submit', onForgot);
    $('reset-form').addEventListener('submit', onReset);
    $('users-all').addEventListener('change', (ev) => {
      document.querySelectorAll('#users-body tr:not([hidden]) input[name="user-id"]').forEach((b) => { b.checked = ev.target.checked; });
    });
    $('activity-older').addEventListener('click', (ev) => {
      const next = parseInt(ev.currentTarget.dataset.next || '0', 10);
      if (next) showActivity(++renderSeq, next);
    });
    $('activity-newest').addEventListener('click', () => showActivity(++renderSeq, 0));
    $('signout').addEventListener('click', signOut);
    // A click on the current page's link reloads it (and notices an expired session).
    for (const id of ['nav-security', 'nav-users', 'nav-activity']) {
      $(id).addEventListener('click', (ev) => {
        if (location.hash === $(id).getAttribute('href')) {
          ev.preventDefault();
          render();
        }
      });
    }
    window.addEventListener('hashchange', render);
    render();
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', init);
  } else {
    init();
  }
})();

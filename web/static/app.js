// mfad web front end: a small single-page app on the public API.
//
// Every call goes to /api/1.0 with the session in the X-Auth-Token header.
// The session id lives in sessionStorage only (one tab, gone when it closes)
// and never in a URL: the hash holds only the page name (#/security,
// #/users). The one exception is the link of a password-reset mail,
// #reset=<id>: the page takes the id into memory and replaces the address
// with #/reset at once, so the id stays neither in the address bar nor in
// the history. Text from the server is always set with textContent, never
// as HTML.
'use strict';

(function () {
  const API = '/api/1.0';
  const KEY_TOKEN = 'mfad.token';
  const KEY_STEP = 'mfad.step'; // '' for a full session, else the Mfa-Code owed

  const $ = (id) => document.getElementById(id);

  let profile = null; // the signed-in user's profile (memory only)
  let enrollMode = 'profile'; // 'login' (Mfa-Code 3) or 'profile' (security page)
  let flash = null; // the message the next view shows: {text, kind}
  let renderSeq = 0; // drops the results of superseded renders
  let resetId = ''; // the id of the open password-reset link (memory only)
  let users = new Map(); // the users page's users by id, for the edit form

  // ---- session state

  function session() {
    return {
      token: sessionStorage.getItem(KEY_TOKEN) || '',
      step: sessionStorage.getItem(KEY_STEP) || '',
    };
  }

  function saveSession(token, step) {
    sessionStorage.setItem(KEY_TOKEN, token);
    sessionStorage.setItem(KEY_STEP, step || '');
  }

  function clearSession() {
    sessionStorage.removeItem(KEY_TOKEN);
    sessionStorage.removeItem(KEY_STEP);
    profile = null;
  }

  // ---- the API

  class ApiError extends Error {
    constructor(status, code, msg, retryAfter) {
      super(msg);
      this.status = status;
      this.code = code;
      this.retryAfter = retryAfter;
    }
  }

  // base64 of the UTF-8 bytes of s (btoa alone takes only Latin-1).
  function base64(s) {
    const bytes = new TextEncoder().encode(s);
    let bin = '';
    for (let i = 0; i < bytes.length; i++) bin += String.fromCharCode(bytes[i]);
    return btoa(bin);
  }

  // api calls the API. It resolves with {status, data, mfaCode} for a 2xx
  // answer and rejects with an ApiError otherwise (code -1 when the answer
  // is not an ErrorModel, status 0 when the server cannot be reached).
  async function api(method, path, opts) {
    opts = opts || {};
    const headers = { Accept: 'application/json' };
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
        credentials: 'omit',
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
      return { status: res.status, data: data, mfaCode: res.headers.get('Mfa-Code') || '' };
    }
    const code = data && typeof data.code === 'number' ? data.code : -1;
    const msg = data && typeof data.msg === 'string' ? data.msg : res.statusText;
    const retry = parseInt(res.headers.get('Retry-After') || '0', 10);
    throw new ApiError(res.status, code, msg, isNaN(retry) ? 0 : retry);
  }

  // ---- messages

  function plural(n, word) {
    return n + ' ' + word + (n === 1 ? '' : 's');
  }

  function lockedText(seconds) {
    const minutes = Math.max(1, Math.ceil(seconds / 60));
    return 'Too many attempts: signing in is locked for now. Try again in ' + plural(minutes, 'minute') + '.';
  }

  // errorText turns an API error into a sentence for people. ctx says what
  // was being done: 'signin', 'totp', 'pin', 'enroll', 'profile-pin',
  // 'remove', 'users', 'create', 'settings', 'load', 'password' (change or
  // reset), 'forgot', 'edit'. A refused password (code 2, msg "password:
  // ...") is said as such wherever it happens.
  function errorText(err, ctx) {
    if (err.status === 0) return 'Cannot reach the server. Check your connection and try again.';
    switch (err.code) {
      case 0: return 'The server had an internal error. Try again later.';
      case 1: return 'The request was malformed: ' + err.message + '.';
      case 2:
        if (ctx === 'profile-pin' || ctx === 'users-pin') return 'A PIN must be 4 to 12 digits.';
        if (ctx === 'totp' || ctx === 'enroll') return 'Enter the 6-digit code from your authenticator app.';
        if (ctx === 'pin') return 'Enter your PIN: 4 to 12 digits.';
        if (err.message.startsWith('password: ')) return 'The password is refused: ' + err.message.slice(10) + '.';
        return 'Please check the form: ' + err.message + '.';
      case 3: return 'The request is too large.';
      case 4: case 5: case 6: return 'The request was refused (' + err.message + ').';
      case 10: return 'Your session has expired or was closed. Please sign in again.';
      case 11: return 'Wrong email or password.';
      case 12: return 'A second factor is required: finish signing in first.';
      case 13:
        if (ctx === 'pin') return 'Wrong PIN. Check it and try again.';
        return 'Wrong code. Enter the current code from your authenticator app (each code works only once; a new one appears every 30 seconds).';
      case 14: return 'Administrator rights are required for this.';
      case 15: return lockedText(err.retryAfter);
      case 16: return 'The server is busy. Try again in a few seconds.';
      case 17: return 'The service is unavailable right now (database unreachable). Try again in a few seconds.';
      case 20: return 'This sign-in step expected a different factor. Please sign in again.';
      case 21:
        if (ctx === 'enroll' && enrollMode === 'profile') {
          return 'Enrollment failed: the code does not match the new secret, or the secret expired (it lives 10 minutes). Check the code, or get a new secret and add it to your app again.';
        }
        return 'Enrollment failed: the new secret expired or was never made (secrets live 10 minutes). Get a new secret and add it to your app again.';
      case 22:
        return 'This factor is forced by an administrator (or by the account) and cannot be removed.';
      case 23: return 'One or more selected users are not users of your account. Nothing was changed.';
      case 24: return 'That email is already taken by another user.';
      case 25: return 'User not found.';
      case 26: return 'You cannot delete, disable or take administrator rights from your own user.';
      case 27: return 'Your current password is wrong. (Failed attempts count towards a lockout.)';
      case 28: return 'Password reset by mail is not set up on this server. An administrator can set a new password for you.';
      case 29: return 'This reset link is unknown, used, replaced by a newer one or expired. Ask for a new one below.';
    }
    if (err.status === 429) return lockedText(err.retryAfter);
    if (err.status === 503) return 'The service is busy or unavailable. Try again in a few seconds.';
    if (err.status >= 500) return 'The server had an error. Try again later.';
    return 'The request failed: ' + (err.message || ('status ' + err.status)) + '.';
  }

  function showMsg(text, kind) {
    const box = $('msg');
    if (!text) {
      box.textContent = '';
      box.hidden = true;
      return;
    }
    const prefix = kind === 'error' ? 'Error: ' : kind === 'ok' ? 'Done: ' : '';
    box.className = 'msg ' + (kind || 'info');
    box.textContent = prefix + text;
    box.hidden = false;
    // The box is at the top of the page; bring it into sight after an
    // action further down (focus stays where it was).
    const r = box.getBoundingClientRect();
    if (r.top < 0 || r.bottom > window.innerHeight) box.scrollIntoView({ block: 'nearest' });
  }

  // fail shows err. A closed or expired session (401 code 10), or a limited
  // session where a full one is needed (code 12), ends the session and goes
  // back to sign-in.
  function fail(err, ctx) {
    if (err.code === 10 || err.code === 12 || err.code === 20) {
      const wasLimited = session().step !== '';
      clearSession();
      let text;
      if (err.code === 20) {
        text = errorText(err, ctx);
      } else if (wasLimited) {
        text = 'Your sign-in attempt has expired (it lasts 5 minutes and ends after too many wrong codes). Please sign in again.';
      } else {
        text = 'Your session has expired or was closed. Please sign in again.';
      }
      go('#/', text, 'error');
      return;
    }
    showMsg(errorText(err, ctx), 'error');
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

  // ---- views

  const TITLES = {
    signin: 'Sign in',
    totp: 'Authentication code',
    pin: 'PIN',
    enroll: 'Set up two-factor authentication',
    security: 'Security',
    users: 'Users',
    forgot: 'Reset your password',
    reset: 'Set a new password',
  };

  function showView(name, focusId) {
    document.querySelectorAll('.view').forEach((v) => { v.hidden = v.id !== 'view-' + name; });
    const s = session();
    const full = s.token !== '' && s.step === '';
    $('nav').hidden = !full;
    $('nav-users').hidden = !(full && profile && profile.super_admin === 'Y');
    for (const [id, page] of [['nav-security', 'security'], ['nav-users', 'users']]) {
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
    if (!s.token) {
      showView('signin', 'signin-email');
      return;
    }
    if (s.step) {
      showStep(s.step);
      return;
    }
    if (page === 'users') {
      await showUsers(seq);
    } else {
      await showSecurity(seq);
    }
  }

  // ---- sign in

  async function onSignIn(ev) {
    ev.preventDefault();
    const email = $('signin-email').value.trim();
    const password = $('signin-password').value;
    if (!email || !password) {
      showMsg('Enter your email and your password.', 'error');
      $(email ? 'signin-password' : 'signin-email').focus();
      return;
    }
    await busy($('signin-form'), async () => {
      try {
        const r = await api('GET', '/session/login', { basic: [email, password] });
        $('signin-password').value = '';
        afterLogin(r);
      } catch (err) {
        fail(err, 'signin');
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
      saveSession(tok, r.mfaCode || '1');
      go('#/');
      return;
    }
    saveSession(tok, '');
    go('#/security', 'You are signed in.', 'ok');
  }

  function showStep(step) {
    switch (step) {
      case '1':
        $('totp-code').value = '';
        showView('totp', 'totp-code');
        return;
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

  function codeValue(id) {
    return $(id).value.replace(/\s+/g, '');
  }

  async function onTotp(ev) {
    ev.preventDefault();
    const code = codeValue('totp-code');
    if (!/^[0-9]{6}$/.test(code)) {
      showMsg('Enter the 6-digit code from your authenticator app.', 'error');
      $('totp-code').focus();
      return;
    }
    await secondFactor($('totp-form'), '2FA', code, 'totp', 'totp-code');
  }

  async function onPin(ev) {
    ev.preventDefault();
    const pin = codeValue('pin-code');
    if (!/^[0-9]{4,12}$/.test(pin)) {
      showMsg('Enter your PIN: 4 to 12 digits.', 'error');
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
        fail(err, ctx);
        if ($(inputId) && !$(inputId).closest('.view').hidden) {
          $(inputId).value = '';
          $(inputId).focus();
        }
      }
    });
  }

  async function cancelLogin() {
    try { await api('GET', '/session/logout'); } catch (e) { /* the session may be gone already */ }
    clearSession();
    go('#/', 'Sign-in cancelled.', 'info');
  }

  // ---- 2FA enrollment

  function groupSecret(s) {
    return s.replace(/(.{4})/g, '$1 ').trim();
  }

  async function startEnroll(mode) {
    enrollMode = mode;
    $('enroll-qr').hidden = true;
    $('enroll-qr').removeAttribute('src');
    $('enroll-secret').textContent = '';
    $('enroll-code').value = '';
    $('enroll-intro').textContent = mode === 'login'
      ? 'Two-factor authentication is required for your account. Add mfad to an authenticator app, then enter the code it shows to finish signing in.'
      : 'Add mfad to an authenticator app, then enter the code it shows to confirm. Your other sessions will be signed out.';
    $('enroll-submit').textContent = mode === 'login' ? 'Confirm and sign in' : 'Confirm and turn on';
    $('enroll-cancel').textContent = mode === 'login' ? 'Cancel sign-in' : 'Cancel';
    showView('enroll', 'enroll-title');
    await generate();
  }

  async function generate() {
    try {
      const r = await api('GET', '/profile/2fa/generate');
      const d = r.data || {};
      $('enroll-qr').src = 'data:image/png;base64,' + d.qr;
      $('enroll-qr').hidden = false;
      $('enroll-secret').textContent = groupSecret(d.secret || '');
      $('enroll-code').focus();
    } catch (err) {
      fail(err, 'enroll');
    }
  }

  async function onEnroll(ev) {
    ev.preventDefault();
    const code = codeValue('enroll-code');
    if (!/^[0-9]{6}$/.test(code)) {
      showMsg('Enter the 6-digit code your authenticator app shows for the new secret.', 'error');
      $('enroll-code').focus();
      return;
    }
    await busy($('enroll-form'), async () => {
      try {
        if (enrollMode === 'login') {
          const r = await api('POST', '/session/login', { body: { auth_type: '2FA', code: code } });
          afterLogin(r);
          return;
        }
        const r = await api('POST', '/profile/set-mfa', { body: { auth_type: '2FA', code: code } });
        if (r.data && typeof r.data.session_ids === 'string' && r.data.session_ids) {
          saveSession(r.data.session_ids, '');
        }
        go('#/security', 'Two-factor authentication is on. Your other sessions were signed out.', 'ok');
      } catch (err) {
        fail(err, 'enroll');
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
    let p;
    try {
      p = await loadProfile();
    } catch (err) {
      fail(err, 'load');
      return;
    }
    if (seq !== renderSeq) return;
    const methods = p.auth_methods || [];
    const forced = p.forced_auth || [];
    const has2fa = methods.includes('2FA');
    const hasPin = methods.includes('PIN');
    const forced2fa = forced.includes('2FA');
    const forcedPin = forced.includes('PIN');
    $('sec-pw-user').value = p.email;
    $('sec-who').textContent = 'Signed in as ' + p.name + ' (' + p.email + ')' + (p.super_admin === 'Y' ? ', administrator.' : '.');
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
      : 'Two-factor authentication is off. Turn it on to ask for a code from an authenticator app at every sign-in.';

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
    const pin = codeValue('sec-pin');
    if (!/^[0-9]{4,12}$/.test(pin)) {
      showMsg('A PIN must be 4 to 12 digits.', 'error');
      $('sec-pin').focus();
      return;
    }
    await busy($('sec-pin-form'), async () => {
      try {
        const r = await api('POST', '/profile/set-mfa', { body: { auth_type: 'PIN', code: pin } });
        if (r.data && typeof r.data.session_ids === 'string' && r.data.session_ids) {
          saveSession(r.data.session_ids, '');
        }
        go('#/security', 'Your PIN is set. Your other sessions were signed out.', 'ok');
      } catch (err) {
        fail(err, 'profile-pin');
      }
    });
  }

  async function removeFactor(btn, type) {
    await busy(btn, async () => {
      try {
        await api('POST', '/profile/remove-mfa', { body: { auth_type: type } });
        go('#/security', (type === '2FA' ? 'Two-factor authentication is off.' : 'Your PIN is removed.'), 'ok');
      } catch (err) {
        fail(err, 'remove');
      }
    });
  }

  // ---- passwords

  // checkNewPassword checks what the page can before a new password is
  // sent: both fields the same, at least 8 characters (code points, as the
  // server counts). The server applies the rest of the policy. It shows the
  // problem and answers false.
  function checkNewPassword(id, againId) {
    const pw = $(id).value;
    if ([...pw].length < 8) {
      showMsg('The new password needs at least 8 characters.', 'error');
      $(id).focus();
      return false;
    }
    if (pw !== $(againId).value) {
      showMsg('The two new passwords differ. Type the same password twice.', 'error');
      $(againId).value = '';
      $(againId).focus();
      return false;
    }
    return true;
  }

  async function onChangePassword(ev) {
    ev.preventDefault();
    if (!$('sec-pw-current').value) {
      showMsg('Enter your current password.', 'error');
      $('sec-pw-current').focus();
      return;
    }
    if (!checkNewPassword('sec-pw-new', 'sec-pw-new2')) return;
    await busy($('sec-pw-form'), async () => {
      try {
        await api('POST', '/profile/set-password', {
          body: { password: base64($('sec-pw-current').value), new_password: base64($('sec-pw-new').value) },
        });
      } catch (err) {
        fail(err, 'password');
        if (err.code === 27 || err.code === 15) {
          $('sec-pw-current').value = '';
          $('sec-pw-current').focus();
        }
        return;
      }
      $('sec-pw-form').reset();
      go('#/security', 'Your password is changed. Your other sessions were signed out.', 'ok');
    });
  }

  async function onForgot(ev) {
    ev.preventDefault();
    const email = $('forgot-email').value.trim();
    if (!email) {
      showMsg('Enter your email.', 'error');
      $('forgot-email').focus();
      return;
    }
    await busy($('forgot-form'), async () => {
      try {
        await api('POST', '/reset-password/request', { body: { email: [email] } });
      } catch (err) {
        fail(err, 'forgot');
        return;
      }
      $('forgot-form').reset();
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
    if (!checkNewPassword('reset-password', 'reset-password2')) return;
    await busy($('reset-form'), async () => {
      try {
        await api('POST', '/reset-password/reset/' + encodeURIComponent(resetId), { body: { password: $('reset-password').value } });
      } catch (err) {
        if (err.code === 29) {
          resetId = '';
          go('#/forgot', errorText(err, 'password'), 'error');
          return;
        }
        fail(err, 'password');
        return;
      }
      resetId = '';
      $('reset-form').reset();
      clearSession(); // the reset closed every session of the user
      go('#/', 'Your new password is set. Sign in with it.', 'ok');
    });
  }

  // ---- users page (admins)

  function list(a) {
    return a && a.length ? a.join(', ') : 'none';
  }

  function when(unix) {
    if (!unix) return 'never';
    return new Date(unix * 1000).toLocaleString();
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
      tr.append(sel);
      const cells = [u.name, u.email, u.super_admin === 'Y' ? 'Admin' : 'User',
        u.status === 'D' ? 'Disabled' : 'Active',
        list(u.auth_methods), list(u.forced_auth), when(u.last_login)];
      cells.forEach((text, i) => {
        const td = document.createElement(i === 1 ? 'th' : 'td');
        if (i === 1) td.scope = 'row';
        td.textContent = text;
        tr.append(td);
      });
      const edit = document.createElement('button');
      edit.type = 'button';
      edit.className = 'link';
      edit.textContent = 'Edit';
      edit.setAttribute('aria-label', 'Edit ' + u.email);
      edit.addEventListener('click', () => openEdit(u.id));
      const td = document.createElement('td');
      td.append(edit);
      tr.append(td);
      tr.dataset.email = u.email;
      body.append(tr);
    }
    $('users-all').checked = false;
    $('users-delete-confirm').checked = false;
    $('edit-user').hidden = true;
    showView('users');
  }

  function selectedIds() {
    return Array.from(document.querySelectorAll('#users-body input[name="user-id"]:checked')).map((b) => b.value);
  }

  function onActionChange() {
    const action = document.querySelector('input[name="action"]:checked').value;
    $('users-pin-field').hidden = action !== 'force-pin';
    $('users-delete-field').hidden = action !== 'delete';
  }

  // ACTIONS are the bulk changes of the users page: the endpoint, the body
  // besides the ids, the message, and whether the change closes the users'
  // sessions (and so the admin's own, when they are among them).
  const ACTIONS = {
    'force-2fa': { path: '/user/set-mfa', body: { auth_type: '2FA' }, done: '2FA is forced on', closes: true },
    'force-pin': { path: '/user/set-mfa', body: { auth_type: 'PIN' }, done: 'PIN is forced on', closes: true },
    'remove-2fa': { path: '/user/remove-mfa', body: { auth_type: '2FA' }, done: '2FA is removed for' },
    'remove-pin': { path: '/user/remove-mfa', body: { auth_type: 'PIN' }, done: 'PIN is removed for' },
    'reset-2fa': { path: '/user/reset-mfa', body: { auth_type: '2FA' }, done: '2FA is reset for', closes: true },
    'unlock': { path: '/user/unlock', body: {}, done: 'Failed sign-in attempts are cleared for' },
    'disable': { path: '/user/edit', body: { status: 'D' }, done: 'Sign-in is disabled for', closes: true },
    'enable': { path: '/user/edit', body: { status: 'A' }, done: 'Sign-in is enabled for' },
    'make-admin': { path: '/user/edit', body: { super_admin: 'Y' }, done: 'Administrator rights are given to' },
    'make-user': { path: '/user/edit', body: { super_admin: 'N' }, done: 'Administrator rights are taken from' },
    'delete': { path: '/user/delete', body: {}, done: 'Deleted', closes: true },
  };

  async function onApply(ev) {
    ev.preventDefault();
    const ids = selectedIds();
    if (ids.length === 0) {
      showMsg('Select at least one user first.', 'error');
      return;
    }
    const action = document.querySelector('input[name="action"]:checked').value;
    const a = ACTIONS[action];
    const body = Object.assign({ ids: ids }, a.body);
    if (action === 'delete' && !$('users-delete-confirm').checked) {
      showMsg('Tick the box to confirm that the selected users are to be deleted.', 'error');
      $('users-delete-confirm').focus();
      return;
    }
    if (action === 'force-pin') {
      const pin = codeValue('users-pin');
      if (!/^[0-9]{4,12}$/.test(pin)) {
        showMsg('A PIN must be 4 to 12 digits.', 'error');
        $('users-pin').focus();
        return;
      }
      body.code = pin;
    }
    await busy($('users-form'), async () => {
      try {
        await api('POST', a.path, { body: body });
      } catch (err) {
        fail(err, action === 'force-pin' ? 'users-pin' : 'users');
        return;
      }
      $('users-pin').value = '';
      const text = a.done + ' ' + plural(ids.length, 'user') + '.';
      if (a.closes && profile && ids.includes(profile.id)) {
        // Forcing or resetting a factor closes the users' sessions: ours too.
        clearSession();
        go('#/', text + ' Your own sessions were closed by this change: sign in again.', 'ok');
        return;
      }
      go('#/users', text + (a.closes ? ' Their sessions were closed.' : ''), 'ok');
    });
  }

  let editId = ''; // the user the edit form shows

  function openEdit(id) {
    const u = users.get(id);
    if (!u) return;
    editId = id;
    const self = profile && profile.id === id;
    $('edit-title').textContent = 'Edit ' + u.email;
    $('edit-name').value = u.name;
    $('edit-email').value = u.email;
    $('edit-admin').checked = u.super_admin === 'Y';
    $('edit-disabled').checked = u.status === 'D';
    $('edit-admin').disabled = self;
    $('edit-disabled').disabled = self;
    $('edit-self').hidden = !self;
    $('edit-user').hidden = false;
    $('edit-user').scrollIntoView({ block: 'start' });
    $('edit-title').focus();
  }

  async function onEdit(ev) {
    ev.preventDefault();
    const u = users.get(editId);
    if (!u) return;
    const name = $('edit-name').value.trim();
    const email = $('edit-email').value.trim();
    if (!name || !email) {
      showMsg('A user needs a name and an email.', 'error');
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
      showMsg('Nothing was changed.', 'info');
      return;
    }
    await busy($('edit-form'), async () => {
      try {
        await api('POST', '/user/edit', { body: body });
      } catch (err) {
        fail(err, 'edit');
        return;
      }
      if (editId === (profile && profile.id)) profile = null; // reread the own profile
      go('#/users', 'User ' + email + ' is saved.' + (body.status === 'D' ? ' Their sessions were closed.' : ''), 'ok');
    });
  }

  async function onSettings(ev) {
    ev.preventDefault();
    const on = $('acct-force2fa').checked;
    await busy($('acct-form'), async () => {
      try {
        await api('POST', '/settings/set', { body: { auth_methods: on ? ['2FA'] : [] } });
        go('#/users', on
          ? 'Two-factor authentication is now required for every user of the account.'
          : 'Two-factor authentication is no longer required for the whole account.', 'ok');
      } catch (err) {
        fail(err, 'settings');
      }
    });
  }

  async function onCreate(ev) {
    ev.preventDefault();
    const name = $('create-name').value.trim();
    const email = $('create-email').value.trim();
    const password = $('create-password').value;
    if (!name || !email || [...password].length < 8) { // code points, as the server counts
      showMsg('Enter a name, an email and a password of at least 8 characters.', 'error');
      return;
    }
    await busy($('create-form'), async () => {
      try {
        await api('POST', '/user/create', {
          body: { name: name, email: email, password: password, super_admin: $('create-admin').checked ? 'Y' : 'N' },
        });
      } catch (err) {
        fail(err, 'create');
        return;
      }
      $('create-form').reset();
      go('#/users', 'User ' + email + ' is created.', 'ok');
    });
  }

  // ---- sign out

  async function signOut() {
    try { await api('GET', '/session/logout'); } catch (e) { /* already closed */ }
    clearSession();
    go('#/', 'You are signed out.', 'ok');
  }

  // ---- wiring

  function init() {
    $('signin-form').addEventListener('submit', onSignIn);
    $('totp-form').addEventListener('submit', onTotp);
    $('pin-form').addEventListener('submit', onPin);
    $('enroll-form').addEventListener('submit', onEnroll);
    $('enroll-regenerate').addEventListener('click', () => { showMsg(''); generate(); });
    $('enroll-cancel').addEventListener('click', onEnrollCancel);
    document.querySelectorAll('.cancel-login').forEach((b) => b.addEventListener('click', cancelLogin));
    $('sec-2fa-enable').addEventListener('click', () => startEnroll('profile'));
    $('sec-2fa-remove').addEventListener('click', (ev) => removeFactor(ev.currentTarget, '2FA'));
    $('sec-pin-form').addEventListener('submit', onSetPin);
    $('sec-pin-remove').addEventListener('click', (ev) => removeFactor(ev.currentTarget, 'PIN'));
    $('acct-form').addEventListener('submit', onSettings);
    $('users-form').addEventListener('submit', onApply);
    $('create-form').addEventListener('submit', onCreate);
    $('edit-form').addEventListener('submit', onEdit);
    $('edit-cancel').addEventListener('click', () => { $('edit-user').hidden = true; showMsg(''); });
    $('sec-pw-form').addEventListener('submit', onChangePassword);
    $('forgot-form').addEventListener('submit', onForgot);
    $('reset-form').addEventListener('submit', onReset);
    $('users-all').addEventListener('change', (ev) => {
      document.querySelectorAll('#users-body input[name="user-id"]').forEach((b) => { b.checked = ev.target.checked; });
    });
    document.querySelectorAll('input[name="action"]').forEach((r) => r.addEventListener('change', onActionChange));
    $('signout').addEventListener('click', signOut);
    // A click on the current page's link reloads it (and notices an expired session).
    for (const id of ['nav-security', 'nav-users']) {
      $(id).addEventListener('click', (ev) => {
        if (location.hash === $(id).getAttribute('href')) {
          ev.preventDefault();
          render();
        }
      });
    }
    window.addEventListener('hashchange', render);
    onActionChange();
    render();
  }

  if (document.readyState === 'loading') {
    document.addEventListener('DOMContentLoaded', init);
  } else {
    init();
  }
})();

/*
 * The connect page of dromos-gateway (GET /v1/connect?session=..., see
 * dromos-gateway(8)): lists the providers of a connect session, starts
 * OAuth consent for some, and captures credentials for the others with a
 * form made from the provider's JSON Schema.
 *
 * The session token is a bearer credential.  It is read from the address
 * once, kept in sessionStorage (a reload, or coming back from a provider,
 * still works) and taken out of the address bar at once; from then on it
 * travels only in Authorization headers, never in another URL.
 *
 * Everything shown comes from the network, so text is set with
 * textContent and nothing is ever parsed as HTML.  The browser's checks
 * are a convenience: the broker validates every value again, and its
 * answers are shown next to the fields they name.  URLs are relative to
 * the page (/v1/connect), so "providers" is /v1/providers.
 */
'use strict';

(function () {
	const KEY = 'dromos.connect.session';
	const TOKEN = /^[A-Za-z0-9._~-]{1,512}$/;

	/* First of all, before anything can leak the address. */
	const session = takeSession();

	let providers = [];
	let current = null;	/* the provider of the form */
	let fields = [];	/* the form's fields, in schema order */
	let busy = false;

	function takeSession() {
		let s = null;

		try {
			const q = new URLSearchParams(window.location.search);
			if (q.has('session')) {
				s = q.get('session');
				window.sessionStorage.setItem(KEY, s);
			}
		} catch (e) {
			/* Storage refused (a privacy mode): keep it in memory. */
		}
		if (window.location.search !== '' || window.location.hash !== '')
			window.history.replaceState(null, '',
			    window.location.pathname);
		if (s === null) {
			try {
				s = window.sessionStorage.getItem(KEY);
			} catch (e) {
				s = null;
			}
		}
		return s !== null && TOKEN.test(s) ? s : null;
	}

	function forgetSession() {
		try {
			window.sessionStorage.removeItem(KEY);
		} catch (e) {
			/* nothing kept */
		}
	}

	/* DOM helpers: text only, never HTML. */

	function $(id) {
		return document.getElementById(id);
	}

	function el(tag, props, text) {
		const e = document.createElement(tag);

		for (const k of Object.keys(props || {}))
			e.setAttribute(k, props[k]);
		if (text !== undefined && text !== null)
			e.textContent = text;
		return e;
	}

	function status(text) {
		$('status').textContent = text;
		$('status').hidden = text === '';
	}

	function show(view, heading) {
		for (const v of ['view-list', 'view-form', 'view-result',
		    'view-error'])
			$(v).hidden = v !== view;
		$('heading').textContent = heading;
		document.title = heading;
	}

	function focusHeading() {
		$('heading').focus();
	}

	function nameOf(p) {
		return typeof p.display_name === 'string' &&
		    p.display_name !== '' ? p.display_name : p.id;
	}

	/* The API. */

	async function api(method, path, body) {
		const init = {
			method: method,
			headers: {
				'Accept': 'application/json',
				'Authorization': 'Bearer ' + session
			},
			credentials: 'omit',
			cache: 'no-store',
			redirect: 'error',
			referrerPolicy: 'no-referrer'
		};
		let resp, doc = null;

		if (body !== undefined) {
			init.headers['Content-Type'] = 'application/json';
			init.body = JSON.stringify(body);
		}
		try {
			resp = await window.fetch(path, init);
		} catch (e) {
			return { status: 0, doc: null };
		}
		if (/json/.test(resp.headers.get('Content-Type') || '')) {
			try {
				doc = await resp.json();
			} catch (e) {
				doc = null;
			}
		}
		return { status: resp.status, doc: doc };
	}

	/* What went wrong, in a sentence for the user. */
	function problemText(r) {
		if (r.status === 0)
			return 'The service cannot be reached. Check your ' +
			    'connection and try again.';
		if (r.status === 429)
			return 'Too many attempts. Wait a moment and try again.';
		if (r.doc && typeof r.doc.detail === 'string' &&
		    r.doc.detail !== '')
			return 'This did not work: ' + r.doc.detail + '.';
		return 'This did not work (error ' + r.status + '). Try ' +
		    'again later.';
	}

	function fatal(text) {
		show('view-error', 'Cannot connect');
		status('');
		$('error-text').textContent = text;
		focusHeading();
	}

	function expired() {
		forgetSession();
		fatal('This link is not valid or has expired. Go back to the ' +
		    'application that sent you here and start again.');
	}

	/* The list of providers. */

	function showList() {
		const ul = $('providers');

		current = null;
		ul.replaceChildren();
		for (const p of providers) {
			const b = el('button', { type: 'button',
			    class: 'provider', 'data-provider': p.id });
			b.append(el('span', { class: 'name' }, nameOf(p)));
			b.append(el('span', { class: 'how' },
			    p.auth_mode === 'oauth2' ?
			    'Sign in with ' + nameOf(p) :
			    'Enter your credentials'));
			b.addEventListener('click', function () {
				choose(p, b);
			});
			const li = el('li');
			li.append(b);
			ul.append(li);
		}
		show('view-list', 'Connect an account');
		status('');
	}

	function setButtons(disabled) {
		for (const b of document.querySelectorAll('button'))
			b.disabled = disabled;
	}

	function choose(p, button) {
		if (busy)
			return;
		if (p.auth_mode === 'oauth2')
			consent(p, button);
		else
			openForm(p);
	}

	/* OAuth: the broker says where to go; the session stays here. */
	async function consent(p, button) {
		busy = true;
		setButtons(true);
		button.setAttribute('aria-busy', 'true');
		status('Taking you to ' + nameOf(p) + '…');
		const r = await api('POST', 'auth/start', { provider: p.id });
		if (r.status === 200 && r.doc &&
		    typeof r.doc.authorization_url === 'string') {
			let u = null;
			try {
				u = new URL(r.doc.authorization_url);
			} catch (e) {
				u = null;
			}
			if (u !== null && (u.protocol === 'https:' ||
			    u.protocol === 'http:')) {
				window.location.assign(u.href);
				return;
			}
		}
		busy = false;
		setButtons(false);
		button.removeAttribute('aria-busy');
		if (r.status === 401)
			return expired();
		status(r.status === 409 ? nameOf(p) + ' cannot be ' +
		    'connected yet: it is not fully set up.' : problemText(r));
	}

	/* Captured credentials: a form from the provider's schema. */

	async function openForm(p) {
		busy = true;
		status('Loading…');
		const r = await api('GET', 'providers/' +
		    encodeURIComponent(p.id) + '/schema');
		busy = false;
		if (r.status === 401)
			return expired();
		if (r.status !== 200 || r.doc === null ||
		    typeof r.doc !== 'object' || r.doc.properties === null ||
		    typeof r.doc.properties !== 'object') {
			if (providers.length < 2)
				return fatal(problemText(r));
			status(problemText(r));
			return;
		}
		current = p;
		buildForm(r.doc);
		show('view-form', 'Connect ' + nameOf(p));
		status('');
		$('back').hidden = providers.length < 2;
		if (fields.length > 0)
			fields[0].input.focus();
	}

	function compile(pattern) {
		if (typeof pattern !== 'string')
			return null;
		try {
			/*
			 * 'u', not the 'v' of an HTML pattern attribute,
			 * which refuses classes like [_-]; one the browser
			 * cannot compile is left to the server.
			 */
			return new RegExp(pattern, 'u');
		} catch (e) {
			return null;
		}
	}

	function buildForm(schema) {
		const box = $('fields');
		const props = schema.properties;
		const required = new Set(Array.isArray(schema.required) ?
		    schema.required : []);

		box.replaceChildren();
		fields = [];
		$('form-error').hidden = true;
		$('form-description').textContent =
		    typeof schema.description === 'string' ?
		    schema.description : '';
		$('form-description').hidden =
		    $('form-description').textContent === '';
		/*
		 * The required fields first, in the order "required" lists them
		 * (an array keeps its order; the broker's store may not keep
		 * that of an object's members), then the others.
		 */
		const names = [];
		for (const name of required.keys())
			if (Object.prototype.hasOwnProperty.call(props, name))
				names.push(name);
		for (const name of Object.keys(props))
			if (!required.has(name))
				names.push(name);
		for (const name of names) {
			const s = props[name];
			if (s === null || typeof s !== 'object' ||
			    !/^[A-Za-z_][A-Za-z0-9_]{0,63}$/.test(name))
				continue;
			const f = makeField(name, s, required.has(name));
			fields.push(f);
			box.append(f.box);
		}
	}

	function makeInput(f) {
		const s = f.schema;
		let input;

		if (Array.isArray(s.enum)) {
			input = el('select');
			if (!f.required || s.default === undefined)
				input.append(el('option', { value: '' },
				    f.required ? 'Choose…' : '(none)'));
			s.enum.forEach(function (v, i) {
				const o = el('option', { value: String(i) },
				    String(v));
				if (s.default === v)
					o.selected = true;
				input.append(o);
			});
			return input;
		}
		if (s.type === 'boolean') {
			input = el('input', { type: 'checkbox' });
			input.checked = s.default === true;
			return input;
		}
		input = el('input', {
			type: s.secret === true ? 'password' :
			    s.format === 'email' ? 'email' :
			    s.format === 'uri' ? 'url' : 'text',
			autocomplete: 'off',
			autocapitalize: 'off',
			spellcheck: 'false'
		});
		if (s.type === 'integer')
			input.setAttribute('inputmode', 'numeric');
		else if (s.type === 'number')
			input.setAttribute('inputmode', 'decimal');
		if (s.secret !== true && s.default !== undefined &&
		    s.default !== null)
			input.value = String(s.default);
		return input;
	}

	function makeField(name, s, required) {
		const id = 'f-' + name;
		const f = { name: name, schema: s, required: required,
		    re: compile(s.pattern) };
		const label = typeof s.title === 'string' && s.title !== '' ?
		    s.title : name;
		const described = [];

		f.label = label;
		f.box = el('div', { class: 'field' });
		f.input = makeInput(f);
		f.input.id = id;
		f.input.name = name;
		if (required && s.type !== 'boolean') {
			f.input.required = true;
			f.input.setAttribute('aria-required', 'true');
		}
		const lab = el('label', { for: id }, label);
		if (!required && s.type !== 'boolean')
			lab.append(el('span', { class: 'optional' },
			    ' (optional)'));
		if (s.type === 'boolean') {
			f.box.classList.add('check');
			f.box.append(f.input, lab);
		} else
			f.box.append(lab);
		if (typeof s.description === 'string' && s.description !== '') {
			f.box.append(el('p', { id: id + '-help',
			    class: 'help' }, s.description));
			described.push(id + '-help');
		}
		if (s.type !== 'boolean')
			f.box.append(f.input);
		f.error = el('p', { id: id + '-error', class: 'field-error' });
		f.error.hidden = true;
		f.box.append(f.error);
		described.push(id + '-error');
		f.input.setAttribute('aria-describedby', described.join(' '));
		f.input.addEventListener('input', function () {
			fieldError(f, null);
		});
		return f;
	}

	function fieldError(f, text) {
		f.error.textContent = text === null ? '' : text;
		f.error.hidden = text === null;
		if (text === null) {
			f.input.removeAttribute('aria-invalid');
			f.box.classList.remove('invalid');
		} else {
			f.input.setAttribute('aria-invalid', 'true');
			f.box.classList.add('invalid');
		}
	}

	function formError(text) {
		$('form-error').textContent = text === null ? '' : text;
		$('form-error').hidden = text === null;
	}

	/* The browser's check of one field: a message, or null. */
	function check(f) {
		const s = f.schema;
		const v = f.input.value;

		if (s.type === 'boolean')
			return null;
		if (Array.isArray(s.enum))
			return v === '' && f.required ? 'Choose ' + f.label +
			    '.' : null;
		if (v === '')
			return f.required ? 'Enter ' + f.label + '.' : null;
		if (s.type === 'integer' && !/^-?[0-9]+$/.test(v))
			return f.label + ' must be a whole number.';
		if (s.type === 'number' &&
		    !/^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$/.test(v))
			return f.label + ' must be a number.';
		if (s.type !== 'string')
			return null;
		/* Lengths in code points, as JSON Schema counts them. */
		const n = Array.from(v).length;
		if (typeof s.minLength === 'number' && n < s.minLength)
			return f.label + ' must be at least ' + s.minLength +
			    ' characters long.';
		if (typeof s.maxLength === 'number' && n > s.maxLength)
			return f.label + ' must be at most ' + s.maxLength +
			    ' characters long.';
		if (f.re !== null && !f.re.test(v))
			return f.label + ' does not have the expected form.';
		return null;
	}

	/* The value to send, or undefined to leave the field out. */
	function valueOf(f) {
		const s = f.schema;
		const v = f.input.value;

		if (s.type === 'boolean')
			return f.input.checked;
		if (v === '')
			return undefined;
		if (Array.isArray(s.enum))
			return s.enum[Number(v)];
		if (s.type === 'integer' || s.type === 'number')
			return Number(v);
		return v;
	}

	/* "$.api_key", "$['a b']" or "$.credentials.api_key": the field. */
	function fieldOfPath(path) {
		let m;

		if (typeof path !== 'string')
			return null;
		if ((m = /^\$(?:\.credentials)?\.([A-Za-z_][A-Za-z0-9_]*)$/.
		    exec(path)) === null &&
		    (m = /^\$(?:\.credentials)?\['([A-Za-z_][A-Za-z0-9_]*)'\]$/.
		    exec(path)) === null)
			return null;
		return fields.find(function (f) {
			return f.name === m[1];
		}) || null;
	}

	function serverErrors(errors) {
		let first = null;
		const other = [];

		for (const e of errors) {
			const reason = e && typeof e.reason === 'string' ?
			    e.reason : 'is not valid';
			const f = fieldOfPath(e ? e.path : null);
			if (f === null) {
				other.push(reason);
				continue;
			}
			fieldError(f, f.label + ' ' + reason + '.');
			if (first === null)
				first = f;
		}
		if (other.length > 0)
			formError('The service did not accept this: ' +
			    other.join('; ') + '.');
		return first;
	}

	function clearSecrets() {
		for (const f of fields)
			if (f.schema.secret === true)
				f.input.value = '';
	}

	async function submit(ev) {
		let first = null;
		const creds = {};

		ev.preventDefault();
		if (busy || current === null)
			return;
		formError(null);
		for (const f of fields) {
			const msg = check(f);
			fieldError(f, msg);
			if (msg !== null) {
				if (first === null)
					first = f;
				continue;
			}
			const v = valueOf(f);
			if (v !== undefined)
				creds[f.name] = v;
		}
		if (first !== null) {
			status('Please correct the marked fields.');
			first.input.focus();
			return;
		}
		busy = true;
		setButtons(true);
		$('form').setAttribute('aria-busy', 'true');
		status('Connecting…');
		const r = await api('POST', 'connections',
		    { provider: current.id, credentials: creds });
		busy = false;
		setButtons(false);
		$('form').removeAttribute('aria-busy');
		if (r.status === 201)
			return done(current, r.doc);
		if (r.status === 401)
			return expired();
		if (r.status === 422 && r.doc && Array.isArray(r.doc.errors)) {
			first = serverErrors(r.doc.errors);
			status('Please correct the marked fields.');
			if (first !== null)
				first.input.focus();
			return;
		}
		status('');
		formError(problemText(r));
	}

	function done(p, view) {
		clearSecrets();
		show('view-result', 'Connected');
		status('');
		$('result-text').textContent = 'Your ' + nameOf(p) +
		    ' account is connected.';
		$('result-detail').textContent =
		    (view && typeof view.connection === 'string' ?
		    'Connection: ' + view.connection + '. ' : '') +
		    'You can close this window.';
		$('again').hidden = providers.length < 2;
		focusHeading();
	}

	async function start() {
		$('form').addEventListener('submit', submit);
		$('back').addEventListener('click', showList);
		$('again').addEventListener('click', showList);
		if (session === null)
			return fatal('This page needs the link the application ' +
			    'gave you. Go back to it and start again.');
		const r = await api('GET', 'providers');
		if (r.status === 401)
			return expired();
		if (r.status !== 200 || r.doc === null ||
		    !Array.isArray(r.doc.providers))
			return fatal(problemText(r));
		providers = r.doc.providers.filter(function (p) {
			return p !== null && typeof p === 'object' &&
			    typeof p.id === 'string' &&
			    /^[a-z0-9_-]{1,64}$/.test(p.id);
		});
		if (providers.length === 0)
			return fatal('There is nothing to connect here.');
		/* One form and nothing else: straight to it. */
		if (providers.length === 1 && providers[0].auth_mode !== 'oauth2')
			return openForm(providers[0]);
		showList();
	}

	/*
	 * Back from a provider's page, a page kept in the back-forward cache
	 * would still be waiting for the navigation it started.
	 */
	window.addEventListener('pageshow', function (ev) {
		if (!ev.persisted || !busy)
			return;
		busy = false;
		setButtons(false);
		for (const e of document.querySelectorAll('[aria-busy]'))
			e.removeAttribute('aria-busy');
		status('');
	});

	start();
})();

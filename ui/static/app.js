// The dashboard's start: the token prompt, the event stream, and the
// routes. Every path under /ui/ serves this page; the path says what it
// shows:
//
//	/ui/                 the listeners (listeners.js)
//	/ui/listeners/{id}   one listener (detail.js)
//
// Links marked data-nav change the path in place (history.pushState), so
// the page is not loaded again, and each view is a link one can share.

import {h, replace} from './dom.js';
import {onTokenNeeded} from './api.js';
import {promptToken, setUpTokenDialog} from './dialogs.js';
import * as events from './events.js';
import {listenersView} from './listeners.js';
import {detailView} from './detail.js';

const root = document.getElementById('app');
let current = null;

function navigate(href) {
  if (href !== location.pathname + location.search) history.pushState(null, '', href);
  route();
}

function route() {
  if (current) current.unmount();
  current = null;
  const path = location.pathname;
  const one = /^\/ui\/listeners\/([^/]+)\/?$/.exec(path);
  if (path === '/ui/' || path === '/ui' || path === '/ui/index.html' || path === '/ui/listeners' || path === '/ui/listeners/') {
    current = listenersView(root, {navigate});
  } else if (one) {
    let id;
    try {
      id = decodeURIComponent(one[1]);
    } catch {
      id = one[1];
    }
    current = detailView(root, id, {navigate});
  } else {
    replace(root, h('section', {class: 'card'},
      h('h1', null, 'Not found'),
      h('p', null, 'The dashboard has no page ', h('code', null, path), '.'),
      h('p', null, h('a', {href: '/ui/', dataset: {nav: ''}}, 'See the listeners'))));
    current = {unmount: () => replace(root)};
  }
  highlightNav();
}

function highlightNav() {
  for (const a of document.querySelectorAll('.topnav a')) {
    a.classList.toggle('active', location.pathname.startsWith('/ui/'));
  }
}

document.addEventListener('click', (ev) => {
  const a = ev.target instanceof Element ? ev.target.closest('a[data-nav]') : null;
  if (!a || ev.defaultPrevented || ev.button !== 0 || ev.metaKey || ev.ctrlKey || ev.shiftKey || ev.altKey) return;
  const url = new URL(a.href, location.href);
  if (url.origin !== location.origin || !url.pathname.startsWith('/ui/')) return;
  ev.preventDefault();
  navigate(url.pathname + url.search);
});
window.addEventListener('popstate', route);

const streamStatus = document.getElementById('stream-status');
events.onStatus((s) => {
  streamStatus.textContent = 'events: ' + s;
  streamStatus.className = 'stream-status ' + (s === 'live' ? 'live' : s === 'connecting' ? 'connecting' : 'down');
});

setUpTokenDialog();
onTokenNeeded(promptToken);
events.start();
route();

// /optik/ : login (role, name, branches) then the takings dashboard, on kabar.js over /sse.

import { api, problemView } from '/assets/api.js';
import { h, setChildren } from '/assets/dom.js';
import { DemoSession } from '/assets/session.js';
import { startDashboard } from './dashboard.js';
import { loginView } from './login.js';

const main = document.getElementById('main');
const header = document.getElementById('topbar');
const session = new DemoSession('kabar.optik.session');
const brand = header.firstElementChild;

const showProblem = (e) => setChildren(main, problemView(e, { retry: () => location.reload() }));

function logout() {
  session.logout();
  sessionStorage.removeItem('kabar.optik.selected');
  location.reload();
}

async function start() {
  let cabang;
  try {
    cabang = await api('/demo/cabang');
  } catch (e) {
    showProblem(e);
    return;
  }
  if (!Array.isArray(cabang) || cabang.length === 0) {
    showProblem({ code: 'empty', message: 'Server demo tidak mengirim daftar cabang.' });
    return;
  }
  const current = session.current;
  if (!current || session.remainingMs(current) <= 0) {
    session.logout();
    setChildren(header, brand);
    await loginView(main, cabang, session);
  }
  try {
    await startDashboard({ main, header, session, cabang, onLogout: logout });
  } catch (e) {
    console.error(e);
    setChildren(main, problemView({
      code: 'client',
      message: `Pustaka klien kabar (/kabar.js) tidak dapat dimuat atau dijalankan: ${e.message}`,
    }, { retry: () => location.reload() }), h('p', { class: 'hint', style: { textAlign: 'center', marginTop: '12px' } },
      'Pastikan halaman ini dibuka dari server kabar.'));
  }
}

start().catch(showProblem);

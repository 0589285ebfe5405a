// The optical chain's login: a role (kasir, admin, pemilik = super_admin), a name, and the branches
// (GET /demo/cabang) the demo token will carry; POST /demo/login through the session.

import { h, setChildren } from '/assets/dom.js';
import { icon } from '/assets/icons.js';
import { nameOf } from '/assets/format.js';

export const ROLE_LABEL = { kasir: 'Kasir', admin: 'Admin', super_admin: 'Pemilik' };

const ROLES = [
  { role: 'kasir', title: 'Kasir', sub: 'Omset satu cabang', name: 'Sari', icon: 'receipt' },
  { role: 'admin', title: 'Admin', sub: 'Beberapa cabang dan transaksi baru', name: 'Budi', icon: 'users' },
  { role: 'super_admin', title: 'Pemilik', sub: 'Semua cabang', name: 'Bu Ani', icon: 'store' },
];

/** Renders the form into container; resolves with the new session once the login succeeded. */
export function loginView(container, cabang, session) {
  return new Promise((resolve) => {
    let role = 'kasir';
    let nameTouched = false;
    const selected = { kasir: new Set([String(cabang[0]?.id)]), admin: new Set(cabang.slice(0, 2).map((c) => String(c.id))) };

    const nameInput = h('input', { class: 'input', id: 'login-name', testid: 'login-name', value: ROLES[0].name,
      autocomplete: 'off', maxlength: '60', oninput: () => { nameTouched = true; } });
    const branchList = h('div', { class: 'choices', testid: 'login-cabang', role: 'group', 'aria-labelledby': 'cabang-label' });
    const branchHint = h('p', { class: 'hint' });
    const error = h('div', { class: 'form-error', testid: 'login-error', hidden: true });
    const submit = h('button', { class: 'btn btn-primary btn-block', type: 'submit', testid: 'login-submit' }, 'Masuk ke dasbor');

    const renderBranches = () => {
      const all = role === 'super_admin';
      const type = role === 'kasir' ? 'radio' : 'checkbox';
      branchHint.textContent = role === 'kasir' ? 'Kasir melihat omset cabang tempatnya bertugas.'
        : role === 'admin' ? 'Pilih satu atau beberapa cabang yang Anda kelola.'
          : 'Pemilik melihat semua cabang.';
      setChildren(branchList, cabang.map((c) => {
        const id = String(c.id);
        const input = h('input', { type, name: 'cabang', value: id, testid: `login-cabang-${id}`,
          checked: all || selected[role].has(id), disabled: all });
        input.addEventListener('change', () => {
          if (type === 'radio') selected.kasir = new Set([id]);
          else if (input.checked) selected.admin.add(id);
          else selected.admin.delete(id);
        });
        return h('label', { class: 'choice' }, input, h('span', { class: 'check', style: type === 'radio' ? { borderRadius: '50%' } : null }),
          h('span', null, h('span', { class: 'choice-title', style: { display: 'block' } }, nameOf(c.nama ?? c.name, `Cabang ${id}`)),
            h('span', { class: 'choice-sub' }, `Cabang #${id}`)));
      }));
    };

    const roleChoices = h('div', { class: 'choices choices-3', role: 'radiogroup', 'aria-label': 'Peran' }, ROLES.map((r) => {
      const input = h('input', { type: 'radio', name: 'role', value: r.role, testid: `login-role-${r.role}`, checked: r.role === role });
      input.addEventListener('change', () => {
        role = r.role;
        if (!nameTouched) nameInput.value = r.name;
        renderBranches();
      });
      return h('label', { class: 'choice choice-col' }, input,
        h('span', { class: 'stat-icon', style: { marginBottom: '6px' } }, icon(r.icon)),
        h('span', { class: 'choice-title' }, r.title), h('span', { class: 'choice-sub' }, r.sub));
    }));

    const form = h('form', { class: 'card-body', novalidate: true },
      h('div', { class: 'field' }, h('span', { class: 'field-label' }, 'Masuk sebagai'), roleChoices),
      h('div', { class: 'field' }, h('label', { for: 'login-name' }, 'Nama'), nameInput),
      h('div', { class: 'field' }, h('span', { class: 'field-label', id: 'cabang-label' }, 'Cabang'), branchList, branchHint),
      error, submit);

    form.addEventListener('submit', async (e) => {
      e.preventDefault();
      error.hidden = true;
      const ids = role === 'super_admin' ? cabang.map((c) => c.id) : cabang.map((c) => c.id).filter((id) => selected[role].has(String(id)));
      const name = nameInput.value.trim();
      if (!name) return showError('Nama wajib diisi.');
      if (!ids.length) return showError('Pilih minimal satu cabang.');
      submit.disabled = true;
      submit.textContent = 'Masuk…';
      try {
        resolve(await session.login({ role, cabang: ids, name, ttl_s: 3600 }));
      } catch (err) {
        showError(err.message);
        submit.disabled = false;
        submit.textContent = 'Masuk ke dasbor';
      }
    });

    function showError(message) {
      error.textContent = message;
      error.hidden = false;
    }

    renderBranches();
    setChildren(container, h('div', { class: 'login' },
      h('div', { class: 'card login-card', testid: 'login' },
        h('div', { class: 'login-head' },
          h('span', { class: 'eyebrow' }, 'Optik Melati'),
          h('h1', null, 'Masuk ke dasbor omset'),
          h('p', null, 'Pilih peran untuk akun demo. Hak akses tiap peran ditentukan oleh token yang sama di setiap pintu kabar.')),
        form)));
  });
}

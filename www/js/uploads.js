// The uploaded-files page: lists /uploads/ (from its autoindex HTML: each row is
// `<a href="NAME">NAME</a>   14-Nov-2023 22:13   SIZE`, dates in GMT), with each file's
// size and date, and deletes files with `fetch(url, {method: 'DELETE'})`, then
// reloads the list.
'use strict';

const LISTING = '/uploads/';

function setStatus(text) {
  document.getElementById('status').textContent = text;
}

const ROW = /^\s*(\d{2})-(\w{3})-(\d{4}) (\d{2}):(\d{2})\s+(\S+)/;

// The files of an autoindex page: every link but `../` and sub-directories, with
// the date and size that follow the link on its row.
function parseListing(html) {
  const doc = new DOMParser().parseFromString(html, 'text/html');
  const files = [];
  for (const a of doc.querySelectorAll('pre a')) {
    const href = a.getAttribute('href');
    if (!href || href === '../' || href.endsWith('/')) continue;
    const m = ROW.exec(a.nextSibling ? a.nextSibling.textContent : '');
    files.push({
      name: decoded(href) ?? a.textContent, // the whole name: the link text may be cut (..>)
      url: LISTING + href,
      modified: m ? new Date(`${m[1]} ${m[2]} ${m[3]} ${m[4]}:${m[5]}:00 GMT`) : null,
      size: m ? m[6] : null,
    });
  }
  return files;
}

function decoded(href) {
  try {
    return decodeURIComponent(href);
  } catch {
    return null;
  }
}

// 512 -> "512 bytes", 4000 -> "3.9 KB", 17825792 -> "17 MB".
function humanSize(text) {
  const n = Number(text);
  if (!Number.isFinite(n)) return text; // already rounded by the server (`10K`)
  if (n < 1024) return `${n} ${n === 1 ? 'byte' : 'bytes'}`;
  const units = ['KB', 'MB', 'GB', 'TB'];
  let value = n / 1024;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return `${value < 10 ? value.toFixed(1) : Math.round(value)} ${units[unit]}`;
}

async function deleteFile(file) {
  if (!confirm(`Delete ${file.name}?`)) return;
  const resp = await fetch(file.url, { method: 'DELETE' });
  if (resp.status === 204) {
    setStatus(`Deleted ${file.name}.`);
  } else {
    setStatus(`Could not delete ${file.name}: ${resp.status} ${resp.statusText}`);
  }
  await refresh(false);
}

function render(files) {
  const list = document.getElementById('files');
  list.replaceChildren();
  for (const file of files) {
    const li = document.createElement('li');
    const link = document.createElement('a');
    link.href = file.url;
    link.textContent = file.name;
    const size = document.createElement('span');
    size.className = 'size';
    size.textContent = file.size === null ? '' : humanSize(file.size);
    const when = document.createElement('time');
    if (file.modified) {
      when.dateTime = file.modified.toISOString();
      when.textContent = file.modified.toLocaleString([], { dateStyle: 'medium', timeStyle: 'short' });
    }
    const button = document.createElement('button');
    button.type = 'button';
    button.textContent = 'Delete';
    button.addEventListener('click', () => deleteFile(file));
    li.append(link, ' ', size, ' ', when, ' ', button);
    list.append(li);
  }
}

async function refresh(updateStatus = true) {
  let files = [];
  try {
    const resp = await fetch(LISTING, { cache: 'no-store' });
    if (resp.ok) {
      files = parseListing(await resp.text());
    } else if (resp.status !== 404) {
      // 404: the store does not exist yet (it is created by the first upload).
      setStatus(`Could not read the listing: ${resp.status} ${resp.statusText}`);
      return;
    }
  } catch (err) {
    setStatus(`Could not read the listing: ${err}`);
    return;
  }
  render(files);
  if (updateStatus) {
    setStatus(files.length ? `${files.length} file(s).` : 'No files uploaded yet.');
  }
}

document.addEventListener('DOMContentLoaded', () => refresh());

// The uploaded-files page: lists /uploads/ (from its autoindex HTML) and deletes
// files with `fetch(url, {method: 'DELETE'})`, then reloads the list.
'use strict';

const LISTING = '/uploads/';

function setStatus(text) {
  document.getElementById('status').textContent = text;
}

// The files of an autoindex page: every link but `../` and sub-directories.
function parseListing(html) {
  const doc = new DOMParser().parseFromString(html, 'text/html');
  const files = [];
  for (const a of doc.querySelectorAll('pre a')) {
    const href = a.getAttribute('href');
    if (!href || href === '../' || href.endsWith('/')) continue;
    files.push({ name: a.textContent, url: LISTING + href });
  }
  return files;
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
    const button = document.createElement('button');
    button.type = 'button';
    button.textContent = 'Delete';
    button.addEventListener('click', () => deleteFile(file));
    li.append(link, ' ', button);
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

// Resumable upload from the browser: a folder is packed as a tar *by reference* (a Blob made of headers and the
// File objects themselves, so nothing is read into memory), hashed in slices, then sent in chunks to the
// dashboard's relay of the uploads API. A dropped connection resumes from the offset the server reports; choosing
// the same folder or file again after a reload resumes the same upload (remembered by size and SHA-256).
(function () {
  "use strict";
  const CHUNK = 8 * 1024 * 1024;
  const form = document.getElementById("upload-form");
  if (!form) return;
  const folderInput = document.getElementById("upload-folder");
  const archiveInput = document.getElementById("upload-archive");
  const nameInput = document.getElementById("upload-name");
  const progress = document.getElementById("upload-progress");
  const statusLine = document.getElementById("upload-status");
  const encoder = new TextEncoder();

  function say(text, fraction) {
    statusLine.textContent = text;
    if (fraction !== undefined) { progress.hidden = false; progress.value = Math.floor(fraction * 100); }
  }

  function field(block, offset, length, text) { block.set(encoder.encode(text).subarray(0, length), offset); }
  function octal(value, length) { return value.toString(8).padStart(length - 1, "0") + "\0"; }

  function header(name, size, type) {
    const block = new Uint8Array(512);
    field(block, 0, 100, name);
    field(block, 100, 8, "0000644\0"); field(block, 108, 8, "0000000\0"); field(block, 116, 8, "0000000\0");
    field(block, 124, 12, size < 8589934592 ? octal(size, 12) : "00000000000\0");
    field(block, 136, 12, octal(Math.floor(Date.now() / 1000), 12));
    field(block, 148, 8, "        "); field(block, 156, 1, type);
    field(block, 257, 6, "ustar\0"); field(block, 263, 2, "00");
    let sum = 0; for (const byte of block) sum += byte;
    field(block, 148, 8, sum.toString(8).padStart(6, "0") + "\0 ");
    return block;
  }

  function paxRecord(key, value) {
    const body = " " + key + "=" + value + "\n";
    let length = encoder.encode(body).length;
    length += String(length).length;
    if (String(length).length !== String(length - String(length).length).length) length += 1;
    return length + body;
  }

  function padding(size) { return new Uint8Array((512 - (size % 512)) % 512); }

  // A tar of the chosen folder; names and sizes that ustar cannot hold go in a PAX header before the file.
  function tarOf(files) {
    const parts = [];
    for (const file of files) {
      const name = file.webkitRelativePath || file.name;
      const ascii = /^[\x20-\x7e]*$/.test(name) && encoder.encode(name).length <= 100;
      if (!ascii || file.size >= 8589934592) {
        const pax = encoder.encode(paxRecord("path", name) + (file.size >= 8589934592 ? paxRecord("size", String(file.size)) : ""));
        parts.push(header("PaxHeader", pax.length, "x"), pax, padding(pax.length));
      }
      parts.push(header(ascii ? name : "pax-named-file", file.size, "0"), file, padding(file.size));
    }
    parts.push(new Uint8Array(1024));
    return new Blob(parts, { type: "application/x-tar" });
  }

  // Slices read whole: the dead buffers wait for the collector (Chromium grows by ~180 MB at 1 GB, ~300 MB at
  // 5 GB; bench/dashboard_upload.py). A "bring your own buffer" stream reader allocates nothing, but Chromium 156's
  // blob streams stopped answering it when the reader was as slow as hashing (at 0.7 and 2.4 GiB), so it is not used.
  async function sha256Of(blob) {
    const hash = sha256.create();
    say("Computing the checksum…", 0);
    for (let offset = 0; offset < blob.size; offset += CHUNK) {
      hash.update(new Uint8Array(await blob.slice(offset, offset + CHUNK).arrayBuffer()));
      say("Computing the checksum…", 0.3 * Math.min(1, (offset + CHUNK) / blob.size));
    }
    return hash.hex();
  }

  async function call(method, url, body, headers) {
    const response = await fetch(url, {
      method, body, credentials: "same-origin",
      headers: Object.assign({ "Accept": "application/json", "X-CSRF-Token": form.dataset.csrf }, headers || {}),
    });
    const answer = await response.json().catch(() => ({}));
    if (!response.ok) {
      const error = new Error((answer.title || response.status) + (answer.detail ? ": " + answer.detail : ""));
      error.status = response.status;
      throw error;
    }
    return answer;
  }

  const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

  // After a failure the offset is asked of the server inside the same retry loop: a connection that stays down
  // for a while fails that question too, and is retried like a chunk (it must not end the upload).
  async function send(upload, blob) {
    let offset = upload.offset, failures = 0, known = true;
    while (!known || offset < blob.size) {
      try {
        if (!known) {
          offset = (await call("GET", "/dashboard/uploads/" + upload.uuid)).offset;
          known = true;
          continue;
        }
        const end = Math.min(offset + CHUNK, blob.size);
        const answer = await call("PUT", "/dashboard/uploads/" + upload.uuid, blob.slice(offset, end), {
          "Content-Type": "application/octet-stream", "Content-Range": "bytes " + offset + "-" + (end - 1) + "/" + blob.size,
        });
        offset = answer.offset; failures = 0;
        say("Uploading…", 0.3 + 0.7 * offset / blob.size);
      } catch (error) {
        if (error.status && error.status < 500 && error.status !== 409) throw error;
        failures += 1;
        if (failures > 30) throw error;
        say("Connection lost; resuming…");
        await sleep(Math.min(1000 * failures, 10000));
        known = false;
      }
    }
  }

  function chosen() {
    if (archiveInput.files.length) {
      const file = archiveInput.files[0];
      return { blob: file, filename: file.name, name: file.name.replace(/\.(zip|tar|tgz|tar\.gz|7z)$/i, "") };
    }
    if (folderInput.files.length) {
      const files = Array.from(folderInput.files);
      const top = (files[0].webkitRelativePath || files[0].name).split("/")[0];
      return { blob: tarOf(files), filename: top + ".tar", name: top };
    }
    return null;
  }

  for (const input of [folderInput, archiveInput]) {
    input.addEventListener("change", () => {
      const source = chosen();
      if (source && !nameInput.value) nameInput.value = source.name;
    });
  }

  form.addEventListener("submit", async (event) => {
    event.preventDefault();
    const source = chosen();
    if (!source) { say("Choose a folder or an archive first."); return; }
    const button = document.getElementById("upload-start");
    button.disabled = true;
    try {
      const digest = await sha256Of(source.blob);
      const memory = "amber-upload:" + source.blob.size + ":" + digest;
      let upload = null;
      const known = localStorage.getItem(memory);
      if (known) upload = await call("GET", "/dashboard/uploads/" + known).catch(() => null);
      if (!upload || upload.transfer_uuid) {
        upload = await call("POST", "/dashboard/uploads", JSON.stringify({
          name: nameInput.value || source.name, size: source.blob.size, sha256: digest, filename: source.filename,
          processing_config: document.getElementById("upload-config").value,
          auto_approve: document.getElementById("upload-approve").checked,
        }), { "Content-Type": "application/json" });
        localStorage.setItem(memory, upload.uuid);
      }
      await send(upload, source.blob);
      say("Checking and unpacking on the server…", 1);
      const transfer = await call("POST", "/dashboard/uploads/" + upload.uuid + "/complete");
      localStorage.removeItem(memory);
      window.location.assign("/dashboard/transfers/" + transfer.uuid);
    } catch (error) {
      say("Upload failed: " + error.message);
      button.disabled = false;
    }
  });
})();

/**
 * Saving exported files: the desktop app's native dialog (window.starlab.saveFiles, one
 * file through a save dialog, a set into a chosen folder); in browser mode, a download
 * (a set as one .zip).
 */
import type { ExportFile } from '../../shared/contract';
import { zipStore } from '../../shared/export/zip';

type SaveResult = { saved: string[] } | { cancelled: true };
type DesktopBridge = { kind?: string; saveFiles?: (files: ExportFile[]) => Promise<SaveResult> };

export function base64ToBytes(b64: string): Uint8Array {
  const bin = atob(b64);
  const out = new Uint8Array(bin.length);
  for (let i = 0; i < bin.length; i++) out[i] = bin.charCodeAt(i);
  return out;
}

function download(name: string, mime: string, data: Uint8Array): void {
  const url = URL.createObjectURL(new Blob([data as BlobPart], { type: mime }));
  const a = document.createElement('a');
  a.href = url;
  a.download = name;
  a.rel = 'noopener';
  document.body.appendChild(a);
  a.click();
  a.remove();
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/** Save the files; returns a line for the user saying what happened. */
export async function saveFiles(files: ExportFile[], setName: string): Promise<string> {
  const bridge = (typeof window !== 'undefined' ? window.starlab : undefined) as DesktopBridge | undefined;
  if (bridge?.kind === 'electron-ipc' && typeof bridge.saveFiles === 'function') {
    const r = await bridge.saveFiles(files);
    return 'cancelled' in r ? 'Export cancelled.' : `Saved ${r.saved.length} file${r.saved.length === 1 ? '' : 's'}: ${r.saved.join(', ')}`;
  }
  if (files.length === 1) {
    const f = files[0]!;
    download(f.name, f.mime, base64ToBytes(f.base64));
    return `Downloaded ${f.name}.`;
  }
  const zipName = `${setName}.zip`;
  download(zipName, 'application/zip', zipStore(files.map((f) => ({ name: f.name, data: base64ToBytes(f.base64) }))));
  return `Downloaded ${zipName} (${files.length} files: ${files.map((f) => f.name).join(', ')}).`;
}

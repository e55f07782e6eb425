/**
 * Figures as files, in Node (the CLI, the HTTP server, Electron's service host):
 * SVG (shared/export/svg), PDF painted with jsPDF from the same scene with the TTF
 * embedded (vector text, fonts listed by pdffonts), PNG rendered from the SVG by resvg
 * with the same font files, so every format draws the same glyphs.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { jsPDF, GState } from 'jspdf';
import { Resvg } from '@resvg/resvg-js';
import { layoutFigure, type Scene } from '../shared/export/figure-layout';
import { sceneToSvg } from '../shared/export/svg';
import type { ExportPreset, Figure, PresetName } from '../shared/export/model';

const resolveModule = createRequire(import.meta.url).resolve;

const FONT_FILES: Record<Scene['fontFamily'], string> = {
  serif: '@expo-google-fonts/tinos/400Regular/Tinos_400Regular.ttf',
  'sans-serif': '@expo-google-fonts/arimo/400Regular/Arimo_400Regular.ttf',
};

/** The TTF a preset's text is set in (resolved from node_modules; in a packaged app, the unpacked copy resvg can open). */
export function fontPath(family: Scene['fontFamily']): string {
  return resolveModule(FONT_FILES[family]).replace(/app\.asar([\\/])/, 'app.asar.unpacked$1');
}

const fontBase64 = new Map<string, string>();
function fontData(family: Scene['fontFamily']): string {
  let b = fontBase64.get(family);
  if (!b) fontBase64.set(family, (b = readFileSync(fontPath(family)).toString('base64')));
  return b;
}

/** A scene painted into a PDF page of its size: vector paths, text in the embedded TTF. */
export function sceneToPdf(scene: Scene): Buffer {
  const doc = new jsPDF({
    unit: 'pt',
    format: [scene.width, scene.height],
    orientation: scene.width >= scene.height ? 'landscape' : 'portrait',
    compress: true,
    putOnlyUsedFonts: true,
  });
  doc.setProperties({ title: scene.title, creator: 'STaR Lab' });
  const file = `${scene.fontName}.ttf`;
  doc.addFileToVFS(file, fontData(scene.fontFamily));
  doc.addFont(file, scene.fontName, 'normal');
  doc.setFont(scene.fontName, 'normal');
  const withOpacity = (opacity: number | undefined, draw: () => void) => {
    if (opacity === undefined || opacity >= 1) return draw();
    doc.saveGraphicsState();
    doc.setGState(new GState({ opacity, 'stroke-opacity': opacity }));
    draw();
    doc.restoreGraphicsState();
  };
  const path = (points: readonly (readonly [number, number])[], style: 'S' | 'F', closed: boolean) => {
    const [x0, y0] = points[0]!;
    const deltas: [number, number][] = [];
    for (let i = 1; i < points.length; i++) deltas.push([points[i]![0] - points[i - 1]![0], points[i]![1] - points[i - 1]![1]]);
    doc.lines(deltas, x0, y0, [1, 1], style, closed);
  };
  for (const it of scene.items) {
    switch (it.kind) {
      case 'rect':
        if (it.fill) withOpacity(it.fillOpacity, () => (doc.setFillColor(it.fill!), doc.rect(it.x, it.y, it.w, it.h, 'F')));
        if (it.stroke) {
          doc.setDrawColor(it.stroke);
          doc.setLineWidth(it.width ?? 1);
          doc.setLineDashPattern([], 0);
          doc.rect(it.x, it.y, it.w, it.h, 'S');
        }
        break;
      case 'line':
        if (it.points.length < 2) break;
        doc.setDrawColor(it.stroke);
        doc.setLineWidth(it.width);
        doc.setLineJoin('round');
        doc.setLineDashPattern(it.dash ?? [], 0);
        withOpacity(it.opacity, () => path(it.points, 'S', false));
        break;
      case 'area':
        if (it.points.length < 3) break;
        doc.setFillColor(it.fill);
        withOpacity(it.opacity, () => path(it.points, 'F', true));
        break;
      case 'circle':
        doc.setFillColor(it.fill);
        doc.circle(it.cx, it.cy, it.r, 'F');
        break;
      case 'clip-begin':
        doc.saveGraphicsState();
        doc.rect(it.x, it.y, it.w, it.h, null);
        doc.clip();
        doc.discardPath();
        break;
      case 'clip-end':
        doc.restoreGraphicsState();
        break;
      case 'text': {
        doc.setFontSize(it.size);
        doc.setTextColor(it.color ?? '#000000');
        if (it.rotate) {
          // rotated text is placed by its start: centre or end it along the (upward) baseline
          const w = doc.getTextWidth(it.text);
          const shift = it.anchor === 'middle' ? w / 2 : it.anchor === 'end' ? w : 0;
          doc.text(it.text, it.x, it.y + shift, { angle: 90 });
        } else doc.text(it.text, it.x, it.y, { align: it.anchor === 'start' ? 'left' : it.anchor === 'middle' ? 'center' : 'right' });
        break;
      }
    }
  }
  return Buffer.from(doc.output('arraybuffer'));
}

/** The PNG scales offered: 2× and 3× of 96 px per inch (192 and 288 dpi). */
export const PNG_SCALES = [2, 3] as const;

/** The pixel size a PNG of a preset has at a scale (96 px per inch at 1×). */
export function pngSize(preset: { widthIn: number; heightIn: number }, scale: number): { width: number; height: number } {
  return { width: Math.round(preset.widthIn * 96 * scale), height: Math.round(preset.heightIn * 96 * scale) };
}

/** An SVG rendered to PNG at `scale` × 96 dpi with the exporter's own fonts (no system fonts). */
export function svgToPng(svg: string, scene: Pick<Scene, 'fontFamily' | 'fontName' | 'widthIn' | 'heightIn'>, scale: number): Buffer {
  const size = pngSize(scene, scale);
  const r = new Resvg(svg, {
    fitTo: { mode: 'width', value: size.width },
    background: '#FFFFFF',
    font: { fontFiles: [fontPath('serif'), fontPath('sans-serif')], loadSystemFonts: false, defaultFontFamily: scene.fontName },
  });
  return Buffer.from(r.render().asPng());
}

export type FigureFormat = 'svg' | 'pdf' | 'png';

/** One figure in the asked formats: `<base>.svg`, `<base>.pdf`, `<base>@2x.png`, `<base>@3x.png`. */
export function renderFigureFiles(
  figure: Figure,
  base: string,
  formats: readonly FigureFormat[],
  preset: PresetName | ExportPreset = 'single-column',
): { name: string; data: Buffer }[] {
  const scene = layoutFigure(figure, preset);
  const svg = sceneToSvg(scene);
  const out: { name: string; data: Buffer }[] = [];
  if (formats.includes('svg')) out.push({ name: `${base}.svg`, data: Buffer.from(svg, 'utf8') });
  if (formats.includes('pdf')) out.push({ name: `${base}.pdf`, data: sceneToPdf(scene) });
  if (formats.includes('png')) for (const s of PNG_SCALES) out.push({ name: `${base}@${s}x.png`, data: svgToPng(svg, scene, s) });
  return out;
}

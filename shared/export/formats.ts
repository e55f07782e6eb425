/** Paper export formats: figures (svg, pdf, png at 2× and 3×), data (csv), the LaTeX table (tex), figures as code (pgf, py). */
export const EXPORT_FORMATS = ['svg', 'pdf', 'png', 'csv', 'tex', 'pgf', 'py'] as const;
export type ExportFormat = (typeof EXPORT_FORMATS)[number];

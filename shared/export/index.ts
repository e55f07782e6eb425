/** Paper exports: figures (CSV, pgfplots, matplotlib) and tables (LaTeX booktabs). */
export * from './model';
export * from './style';
export * from './csv';
export * from './latex';
export * from './pgfplots';
export * from './matplotlib';
export * from './group';

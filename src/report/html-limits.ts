/**
 * Limits of the HTML report that the CLI's help text quotes, apart from the renderer (html.ts) so that
 * `rstwatch analyze` loads the renderer only when it writes HTML.
 */

/**
 * Connections listed in the HTML table unless told otherwise. 2,000 rows with their evidence are ~1.7 MB of
 * HTML; `--max-connections all` on 100,000 refused connects would be 75 MB, more than a browser renders
 * comfortably (and >1 GB to build). The JSON lists them all.
 */
export const DEFAULT_HTML_MAX_ROWS = 2000;

// The page's entry: one job from the URL (?job=...), or the interactive page.

import { runUrlJob } from './jobs.js';
import { runPage } from './app.js';

const params = new URLSearchParams(location.search);
if (params.has('job')) {
  runUrlJob(params);
} else {
  runPage();
}

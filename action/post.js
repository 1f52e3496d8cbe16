'use strict';
// The action's post step (post-if: always()): `prod-access revoke`, with the runner's STATE_*
// from what grant saved. A no-op when nothing was granted. See lib.js.
require('./lib.js').main('revoke');

'use strict';
// The action's main step: `prod-access grant`. See lib.js.
require('./lib.js').main('grant');

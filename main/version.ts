// The app's version, from package.json (inlined by the bundlers).
import pkg from '../package.json';

export const appVersion: string = pkg.version;

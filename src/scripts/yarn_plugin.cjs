// pkgward's plugin for yarn 2+ (berry), loaded through YARN_PLUGINS by
// the pkgward shim only (see src/scripts/yarn.rs). It never enables a
// script by itself being absent: scripts stay off (YARN_ENABLE_SCRIPTS=
// false) and this plugin only lets through what pkgward approved.
//
// - Dependencies: `project.getDependencyMeta` answers `built: true` for
//   the exact locators in $PKGWARD_YARN_ALLOW (a file, one `name@reference`
//   a line, virtual references stripped) and `built: false` for every
//   other package, so yarn builds exactly the approved ones (also its
//   implicit `node-gyp rebuild`), and unplugs only those.
// - Workspaces (yarn runs their install scripts even with scripts off):
//   their scripts run only when `name@version` is in $PKGWARD_YARN_WS_ALLOW;
//   otherwise the script is not run (and yarn goes on).
// - Every script yarn starts, or that this plugin kept from running, is
//   reported as a JSON line to $PKGWARD_YARN_REPORT.
const fs = require('fs');

const readList = file => {
  if (!file) return new Set();
  try {
    return new Set(fs.readFileSync(file, 'utf8').split('\n').filter(Boolean));
  } catch (e) {
    return new Set();
  }
};

module.exports = {
  name: 'pkgward-scripts',
  factory: require => {
    const allow = readList(process.env.PKGWARD_YARN_ALLOW);
    const wsAllow = readList(process.env.PKGWARD_YARN_WS_ALLOW);
    const reportFile = process.env.PKGWARD_YARN_REPORT;
    const report = m => {
      if (!reportFile) return;
      try {
        fs.appendFileSync(reportFile, JSON.stringify(m) + '\n');
      } catch (e) {}
    };
    const ident = l => (l.scope ? '@' + l.scope + '/' : '') + l.name;
    const devirtualize = r => {
      if (r.startsWith('virtual:')) {
        const i = r.indexOf('#');
        if (i >= 0) return r.slice(i + 1);
      }
      return r;
    };
    report({ event: 'loaded' });
    return {
      hooks: {
        validateProject(project) {
          const original = project.getDependencyMeta.bind(project);
          project.getDependencyMeta = (locator, version) => {
            const meta = Object.assign({}, original(locator, version));
            const id = ident(locator) + '@' + devirtualize(locator.reference);
            meta.built = allow.has(id) && meta.built !== false;
            return meta;
          };
        },
        // Where yarn's own linker put each package whose build it skipped
        // (linker-agnostic: pkgward reads their manifests there).
        async afterAllInstalled(project) {
          let ThrowReport = null;
          try {
            ThrowReport = require('@yarnpkg/core').ThrowReport;
          } catch (e) {}
          const linkers = project.configuration.getLinkers();
          for (const h of project.skippedBuilds) {
            const pkg = project.storedPackages.get(h);
            if (!pkg || project.tryWorkspaceByLocator(pkg)) continue;
            let location = null;
            try {
              const linker = linkers.find(l => l.supportsPackage(pkg, { project }));
              if (linker && ThrowReport) location = await linker.findPackageLocation(pkg, { project, report: new ThrowReport() });
            } catch (e) {}
            report({ event: 'skipped', id: ident(pkg) + '@' + devirtualize(pkg.reference), ident: ident(pkg), version: pkg.version, location });
          }
        },
        setupScriptEnvironment(project, env) {
          // pkgward's confined run reads a scrubbed copy of the user's
          // ~/.yarnrc.yml from a private HOME: the scripts get the real one.
          if (process.env.PKGWARD_YARN_HOME) env.HOME = process.env.PKGWARD_YARN_HOME;
          for (const k of Object.keys(env)) if (k.startsWith('PKGWARD_YARN_')) delete env[k];
        },
        wrapScriptExecution(executor, project, locator, scriptName, extra) {
          const ws = project.tryWorkspaceByLocator(locator);
          const id = ident(locator) + '@' + devirtualize(locator.reference);
          if (ws) {
            const key = ident(locator) + '@' + (ws.manifest.version || '0.0.0');
            if (!wsAllow.has(key)) {
              report({ event: 'workspace', id, key, cwd: ws.cwd, script: scriptName, command: extra.script, ran: false });
              return async () => 0;
            }
          }
          return async () => {
            const started = Date.now();
            let code = 1;
            try {
              code = await executor();
            } finally {
              report({ event: ws ? 'workspace' : 'script', id, cwd: ws ? ws.cwd : null, script: scriptName, command: extra.script, ran: true, code, ms: Date.now() - started });
            }
            return code;
          };
        },
      },
    };
  },
};

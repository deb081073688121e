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
// - Build state (yarn's own, in its install state): yarn keeps the build
//   hash only of what it built in this run, so a build this plugin kept
//   from running (a dependency not allowed now, a workspace script not
//   allowed) would lose it, or, for a workspace, be recorded as built.
//   After linking, a dependency yarn skipped gets its earlier hash back
//   (and a package yarn built before stays unplugged meanwhile, so its
//   build output stays), and a workspace whose script was kept from
//   running loses its hash: the next run with it allowed builds what
//   changed or was never built, and skips what is up to date (reported).
// - `yarn dlx` ($PKGWARD_YARN_DLX): its package set is known only once
//   yarn resolved it, so $PKGWARD_YARN_DLX_ALLOW holds the policy's rules
//   (`NAME<TAB>RANGE` a line, an empty range for any version; `*` for
//   every package) and a dependency builds when its locator matches one:
//   an `npm:` reference (an alias: the package it points to) by name and
//   version (berry's semver); any other only under `*`. pkgward decides
//   each build that ran again afterwards, and confines the whole run when
//   the policy confines approved code.
const fs = require('fs');

const readList = file => {
  if (!file) return new Set();
  try {
    return new Set(fs.readFileSync(file, 'utf8').split('\n').filter(Boolean));
  } catch (e) {
    return new Set();
  }
};

// [name, range] rules, or null.
const readRules = file => {
  if (!file) return null;
  try {
    return fs
      .readFileSync(file, 'utf8')
      .split('\n')
      .filter(Boolean)
      .map(l => {
        const i = l.indexOf('\t');
        return i < 0 ? [l, ''] : [l.slice(0, i), l.slice(i + 1)];
      });
  } catch (e) {
    return [];
  }
};

module.exports = {
  name: 'pkgward-scripts',
  factory: require => {
    const allow = readList(process.env.PKGWARD_YARN_ALLOW);
    const wsAllow = readList(process.env.PKGWARD_YARN_WS_ALLOW);
    const dlxRules = process.env.PKGWARD_YARN_DLX ? readRules(process.env.PKGWARD_YARN_DLX_ALLOW) : null;
    let semver = null;
    try {
      semver = require('semver');
    } catch (e) {}
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
    // `yarn dlx`: whether the rules approve a locator (see the top).
    const dlxAllowed = locator => {
      if (!dlxRules || dlxRules.length === 0) return false;
      if (dlxRules.some(([n]) => n === '*')) return true;
      const r = devirtualize(locator.reference);
      if (!r.startsWith('npm:') || !semver) return false;
      let name = ident(locator);
      let version = r.slice(4);
      const at = version.lastIndexOf('@');
      if (at > 0) {
        name = version.slice(0, at);
        version = version.slice(at + 1);
      }
      if (!semver.valid(version)) return false;
      return dlxRules.some(([n, range]) => n === name && (range === '' || semver.satisfies(version, range)));
    };
    // Workspaces whose scripts were kept from running, packages whose
    // scripts ran (locator hashes).
    const deniedWorkspaces = new Set();
    const ranBuild = new Set();
    // A package's scripts and whether it has a binding.gyp, read from the
    // package as yarn fetched it (the cache), or null.
    const readManifest = async (project, pkg, opts) => {
      try {
        const { Manifest, structUtils } = require('@yarnpkg/core');
        const { ppath } = require('@yarnpkg/fslib');
        const base = structUtils.isVirtualLocator(pkg)
          ? project.storedPackages.get(structUtils.devirtualizeLocator(pkg).locatorHash)
          : pkg;
        const fetcher = opts.fetcher || project.configuration.makeFetcher();
        const res = await fetcher.fetch(base, { project, fetcher, cache: opts.cache, checksums: project.storedChecksums, report: opts.report, cacheOptions: { skipIntegrityCheck: true } });
        try {
          const m = await Manifest.find(res.prefixPath, { baseFs: res.packageFs });
          const gyp = res.packageFs.existsSync(ppath.join(res.prefixPath, 'binding.gyp'));
          return { scripts: Object.fromEntries(m.scripts), gyp };
        } finally {
          if (res.releaseFs) res.releaseFs();
        }
      } catch (e) {
        return { scripts: null };
      }
    };
    report({ event: 'loaded' });
    return {
      hooks: {
        validateProject(project) {
          const original = project.getDependencyMeta.bind(project);
          // The packages yarn built before (its stored build state), by id.
          let builtBefore = null;
          const wasBuilt = id => {
            if (!builtBefore) {
              builtBefore = new Set();
              for (const h of project.storedBuildState.keys()) {
                const pkg = project.storedPackages.get(h);
                if (pkg) builtBefore.add(ident(pkg) + '@' + devirtualize(pkg.reference));
              }
            }
            return builtBefore.has(id);
          };
          project.getDependencyMeta = (locator, version) => {
            const meta = Object.assign({}, original(locator, version));
            const id = ident(locator) + '@' + devirtualize(locator.reference);
            const built = (allow.has(id) || (!project.tryWorkspaceByLocator(locator) && dlxAllowed(locator))) && meta.built !== false;
            if (!built && meta.unplugged === undefined && wasBuilt(id)) meta.unplugged = true;
            meta.built = built;
            return meta;
          };
          const link = project.linkEverything.bind(project);
          project.linkEverything = async opts => {
            const before = project.storedBuildState;
            await link(opts);
            const after = project.storedBuildState;
            if (after === before) return;
            for (const [h, hash] of before) {
              if (!after.has(h) && project.skippedBuilds.has(h)) after.set(h, hash);
            }
            for (const h of deniedWorkspaces) after.delete(h);
            for (const [h, hash] of after) {
              const pkg = project.storedPackages.get(h);
              if (!pkg || before.get(h) !== hash || ranBuild.has(h)) continue;
              const id = ident(pkg) + '@' + devirtualize(pkg.reference);
              if (allow.has(id)) report({ event: 'up-to-date', id });
            }
          };
        },
        // Where yarn's own linker put each package whose build it skipped
        // (linker-agnostic: pkgward reads their manifests there).
        async afterAllInstalled(project, opts) {
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
            // `yarn dlx`: its temporary project is gone afterwards, so the
            // manifest's scripts come with the report.
            const manifest = process.env.PKGWARD_YARN_DLX ? await readManifest(project, pkg, opts) : undefined;
            report({ event: 'skipped', id: ident(pkg) + '@' + devirtualize(pkg.reference), ident: ident(pkg), version: pkg.version, location, ...manifest });
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
              deniedWorkspaces.add(locator.locatorHash);
              report({ event: 'workspace', id, key, cwd: ws.cwd, script: scriptName, command: extra.script, ran: false });
              return async () => 0;
            }
          }
          ranBuild.add(locator.locatorHash);
          return async () => {
            const started = Date.now();
            let code = 1;
            try {
              code = await executor();
            } finally {
              const pkg = project.storedPackages.get(locator.locatorHash);
              report({ event: ws ? 'workspace' : 'script', id, ident: ident(locator), version: pkg ? pkg.version : null, cwd: ws ? ws.cwd : null, script: scriptName, command: extra.script, ran: true, code, ms: Date.now() - started });
            }
            return code;
          };
        },
      },
    };
  },
};

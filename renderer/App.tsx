// The app shell: app bar, navigation drawer, the current page, the error snackbar.
import { Suspense, lazy, useEffect, useState, type MouseEvent, type ReactNode } from 'react';
import {
  Alert,
  AppBar,
  Box,
  Chip,
  Divider,
  Drawer,
  IconButton,
  LinearProgress,
  List,
  ListItemButton,
  ListItemIcon,
  ListItemText,
  ListSubheader,
  Toolbar,
  Tooltip,
  Typography,
  useMediaQuery,
  useTheme,
} from '@mui/material';
import BalanceIcon from '@mui/icons-material/Balance';
import ChatOutlinedIcon from '@mui/icons-material/ChatOutlined';
import DarkModeOutlinedIcon from '@mui/icons-material/DarkModeOutlined';
import LightModeOutlinedIcon from '@mui/icons-material/LightModeOutlined';
import MemoryOutlinedIcon from '@mui/icons-material/MemoryOutlined';
import MenuIcon from '@mui/icons-material/Menu';
import PlayCircleOutlineIcon from '@mui/icons-material/PlayCircleOutline';
import SettingsOutlinedIcon from '@mui/icons-material/SettingsOutlined';
import StorageOutlinedIcon from '@mui/icons-material/StorageOutlined';
import TableChartOutlinedIcon from '@mui/icons-material/TableChartOutlined';
import TimelineOutlinedIcon from '@mui/icons-material/TimelineOutlined';
import ViewInArOutlinedIcon from '@mui/icons-material/ViewInArOutlined';
import { useT, type Translate } from './i18n';
import type { MessageKey } from './i18n/en';
import { useThemeChoice } from './theme';
import { setTransportMessages, useConnection, type Connection } from './state/api';
import { hrefOf, navigate, useRoute, type Route } from './state/router';

// Pages load on first visit: the first screen parses less script, and heavy parts (the charts
// of the datasets and runs pages) stay out of it.
const ModelsPage = lazy(() => import('./pages/models/ModelsPage').then((m) => ({ default: m.ModelsPage })));
const DatasetsPage = lazy(() => import('./pages/datasets/DatasetsPage').then((m) => ({ default: m.DatasetsPage })));
const RunsPage = lazy(() => import('./pages/runs/RunsPage').then((m) => ({ default: m.RunsPage })));
const NewRunPage = lazy(() => import('./pages/new-run/NewRunPage').then((m) => ({ default: m.NewRunPage })));
const ChatPage = lazy(() => import('./pages/chat/ChatPage').then((m) => ({ default: m.ChatPage })));
const SettingsPage = lazy(() => import('./pages/settings/SettingsPage').then((m) => ({ default: m.SettingsPage })));
const SystemPage = lazy(() => import('./pages/system/SystemPage').then((m) => ({ default: m.SystemPage })));

const drawerWidth = 240;

interface NavItem {
  route: Route;
  label: MessageKey;
  icon: ReactNode;
  page: () => ReactNode;
}

const workItems: NavItem[] = [
  { route: 'models', label: 'nav.models', icon: <ViewInArOutlinedIcon />, page: () => <ModelsPage /> },
  { route: 'datasets', label: 'nav.datasets', icon: <TableChartOutlinedIcon />, page: () => <DatasetsPage /> },
  { route: 'runs', label: 'nav.runs', icon: <TimelineOutlinedIcon />, page: () => <RunsPage /> },
  { route: 'new-run', label: 'nav.newRun', icon: <PlayCircleOutlineIcon />, page: () => <NewRunPage /> },
  { route: 'chat', label: 'nav.chat', icon: <ChatOutlinedIcon />, page: () => <ChatPage /> },
];
const appItems: NavItem[] = [
  { route: 'settings', label: 'nav.settings', icon: <SettingsOutlinedIcon />, page: () => <SettingsPage /> },
  { route: 'system', label: 'nav.system', icon: <MemoryOutlinedIcon />, page: () => <SystemPage /> },
];
const allItems = [...workItems, ...appItems];

export function App() {
  const t = useT();
  const route = useRoute();
  const theme = useTheme();
  const wide = useMediaQuery(theme.breakpoints.up('md'), { noSsr: true });
  const [mobileOpen, setMobileOpen] = useState(false);
  const item = allItems.find((i) => i.route === route) ?? allItems[0];

  useEffect(() => {
    setTransportMessages((f) => t(f === 'lost' ? 'connection.lost' : 'connection.timeout'));
  }, [t]);
  useEffect(() => {
    document.title = `${t(item.label)} — ${t('app.title')}`;
  }, [t, item.label]);

  const go = (r: Route) => {
    navigate(r);
    setMobileOpen(false);
  };

  const drawer = (
    <Box component="nav" aria-label={t('app.title')} sx={{ pt: 1 }}>
      <NavSection title={t('nav.sectionWork')} items={workItems} current={route} onGo={go} t={t} />
      <Divider sx={{ my: 1, mx: 2 }} />
      <NavSection title={t('nav.sectionApp')} items={appItems} current={route} onGo={go} t={t} />
    </Box>
  );

  return (
    <Box sx={{ display: 'flex', minHeight: '100vh' }}>
      <AppBar position="fixed" sx={{ zIndex: (th) => th.zIndex.drawer + 1, borderBottom: 1, borderColor: 'divider', bgcolor: 'background.paper' }}>
        <Toolbar sx={{ gap: 1 }}>
          {!wide && (
            <IconButton edge="start" aria-label={t('nav.openMenu')} onClick={() => setMobileOpen(true)} data-testid="nav-open">
              <MenuIcon />
            </IconButton>
          )}
          <BalanceIcon color="primary" aria-hidden />
          <Box sx={{ minWidth: 0 }}>
            <Typography variant="subtitle1" component="div" sx={{ fontWeight: 700, lineHeight: 1.2 }} data-testid="app-title">
              {t('app.title')}
            </Typography>
            {wide && (
              <Typography variant="caption" color="text.secondary" component="div" sx={{ lineHeight: 1.2 }}>
                {t('app.tagline')}
              </Typography>
            )}
          </Box>
          <Box sx={{ flex: 1 }} />
          <ConnectionChip t={t} />
          <ThemeToggle t={t} />
        </Toolbar>
      </AppBar>

      {wide ? (
        <Drawer variant="permanent" sx={{ width: drawerWidth, flexShrink: 0, '& .MuiDrawer-paper': { width: drawerWidth, boxSizing: 'border-box' } }}>
          <Toolbar />
          {drawer}
        </Drawer>
      ) : (
        <Drawer
          variant="temporary"
          open={mobileOpen}
          onClose={() => setMobileOpen(false)}
          sx={{ '& .MuiDrawer-paper': { width: drawerWidth, boxSizing: 'border-box', backgroundImage: 'none' } }}
        >
          {/* The app bar stays above the open drawer; keep the first item clear of it. */}
          <Toolbar />
          {drawer}
        </Drawer>
      )}

      <Box component="main" sx={{ flex: 1, minWidth: 0, bgcolor: 'background.default' }}>
        <Toolbar />
        <Box sx={{ px: { xs: 2, sm: 3, md: 4 }, py: { xs: 2, sm: 3 }, maxWidth: 1200, mx: 'auto' }} data-testid={`page-${route}`}>
          <ConnectionBanner t={t} />
          <Suspense fallback={<LinearProgress sx={{ mt: 1 }} data-testid="page-loading" />}>{item.page()}</Suspense>
        </Box>
      </Box>
    </Box>
  );
}

function NavSection({ title, items, current, onGo, t }: { title: string; items: NavItem[]; current: Route; onGo: (r: Route) => void; t: Translate }) {
  return (
    <List dense subheader={<ListSubheader sx={{ bgcolor: 'transparent', lineHeight: '32px' }}>{title}</ListSubheader>}>
      {items.map((i) => (
        <ListItemButton
          key={i.route}
          component="a"
          href={hrefOf(i.route)}
          selected={i.route === current}
          aria-current={i.route === current ? 'page' : undefined}
          data-testid={`nav-${i.route}`}
          onClick={(e: MouseEvent) => {
            e.preventDefault();
            onGo(i.route);
          }}
        >
          <ListItemIcon sx={{ minWidth: 36, color: i.route === current ? 'primary.main' : undefined }}>{i.icon}</ListItemIcon>
          <ListItemText primary={t(i.label)} slotProps={{ primary: { sx: { fontWeight: i.route === current ? 650 : 500 } } }} />
        </ListItemButton>
      ))}
    </List>
  );
}

function ThemeToggle({ t }: { t: Translate }) {
  const { mode, toggle } = useThemeChoice();
  const label = mode === 'dark' ? t('theme.toLight') : t('theme.toDark');
  return (
    <Tooltip title={label}>
      <IconButton onClick={toggle} aria-label={label} data-testid="theme-toggle">
        {mode === 'dark' ? <LightModeOutlinedIcon /> : <DarkModeOutlinedIcon />}
      </IconButton>
    </Tooltip>
  );
}

const connectionLabel: Record<Connection, MessageKey> = {
  electron: 'connection.electron',
  open: 'connection.connected',
  connecting: 'connection.connecting',
  reconnecting: 'connection.reconnecting',
};

function ConnectionChip({ t }: { t: Translate }) {
  const c = useConnection();
  if (c === 'electron') return null;
  const color = c === 'open' ? 'success' : c === 'connecting' ? 'default' : 'warning';
  return (
    <Chip
      size="small"
      variant="outlined"
      color={color}
      icon={<StorageOutlinedIcon />}
      label={t(connectionLabel[c])}
      data-testid="connection-state"
      data-state={c}
      sx={{ display: { xs: 'none', sm: 'inline-flex' } }}
    />
  );
}

function ConnectionBanner({ t }: { t: Translate }) {
  const c = useConnection();
  if (c !== 'reconnecting') return null;
  return (
    <Alert severity="warning" sx={{ mb: 3 }} data-testid="connection-banner">
      {t('connection.lost')} {t('connection.hintToken')}
    </Alert>
  );
}

import { useSyncExternalStore } from "react";
import { useApi } from "../apiContext";
import { DEFAULT_CREATION_NOTICE, type CreationState } from "../api/creationSwitch";

export interface Creation extends CreationState {
  /** The notice to show while creation is off. */
  message: string;
}

/** Whether the page may offer creating models, photo uploads and re-runs (the operator's UI switch). */
export function useCreation(): Creation {
  const api = useApi();
  const state = useSyncExternalStore(api.creation.subscribe, api.creation.current);
  return { ...state, message: state.notice?.trim() || DEFAULT_CREATION_NOTICE };
}
